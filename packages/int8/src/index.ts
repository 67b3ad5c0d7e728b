export const packageName = '@conifer/int8';

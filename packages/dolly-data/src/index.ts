export const packageName = '@conifer/dolly-data';

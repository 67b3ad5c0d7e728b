export const packageName = '@conifer/trainer';

export const packageName = '@conifer/generate';

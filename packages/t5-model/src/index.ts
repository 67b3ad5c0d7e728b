export const packageName = '@conifer/t5-model';

export const packageName = '@conifer/lora';

import { main } from './main.js';

// The bin entry: `conifer-train-ul2-dolly <command> [flags]`.
const code = await main(process.argv.slice(2));
// Exit explicitly: a WebGPU (Dawn) instance can keep the event loop alive after its device is destroyed.
process.exit(code);

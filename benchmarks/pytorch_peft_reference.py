"""PyTorch + PEFT reference for the GPU benchmark (issue 10): LoRA training steps of a
Flan-UL2-shaped T5 in bf16 on the same batch shapes as conifer's WebGPU benchmark.

Runs on the lent H100 machine, whose python3 has torch, transformers and peft:

    python3 benchmarks/pytorch_peft_reference.py --config CONFIG.json --plan PLAN.json [--steps 12]

PLAN.json is the list of batches the TypeScript benchmark uses (written by it):
    {"batches": [{"prompt": [len, ...], "response": [len, ...]}, ...]}
Each batch is padded to its longest prompt / response; labels are -100 on padding.
Weights are random (no 40 GB checkpoint is needed to measure speed). Prints one JSON line.
"""
import argparse
import json
import time

import torch
from peft import LoraConfig, get_peft_model
from transformers import T5Config, T5ForConditionalGeneration


def make_batch(prompt_lens, response_lens, vocab, device):
    b, s, t = len(prompt_lens), max(prompt_lens), max(response_lens)
    ids = torch.randint(2, vocab, (b, s), device=device)
    mask = torch.zeros((b, s), dtype=torch.long, device=device)
    labels = torch.full((b, t), -100, dtype=torch.long, device=device)
    for i, (p, r) in enumerate(zip(prompt_lens, response_lens)):
        mask[i, :p] = 1
        labels[i, :r] = torch.randint(2, vocab, (r,), device=device)
    return ids, mask, labels


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", required=True)
    ap.add_argument("--plan", required=True)
    ap.add_argument("--steps", type=int, default=12, help="timed steps (after 2 warm-up steps)")
    ap.add_argument("--gradient-checkpointing", action="store_true")
    ap.add_argument("--num-layers", type=int, default=None, help="fewer layers for a quick check")
    args = ap.parse_args()

    cfg = json.load(open(args.config))
    if args.num_layers:
        cfg["num_layers"] = cfg["num_decoder_layers"] = args.num_layers
    cfg["dropout_rate"] = 0.1
    config = T5Config.from_dict(cfg)
    torch.manual_seed(0)
    torch.set_default_dtype(torch.bfloat16)
    t0 = time.time()
    with torch.device("cuda"):
        model = T5ForConditionalGeneration(config)
    torch.set_default_dtype(torch.float32)
    if args.gradient_checkpointing:
        model.gradient_checkpointing_enable()
        model.enable_input_require_grads()
    lora = LoraConfig(r=8, lora_alpha=32, lora_dropout=0.1, target_modules=["q", "v"], task_type="SEQ_2_SEQ_LM")
    model = get_peft_model(model, lora)
    model.train()
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    build_s = time.time() - t0

    plan = json.load(open(args.plan))["batches"]
    batches = [make_batch(b["prompt"], b["response"], config.vocab_size, "cuda") for b in plan]
    real_tokens = [sum(b["prompt"]) + sum(b["response"]) for b in plan]

    def step(i):
        ids, mask, labels = batches[i % len(batches)]
        loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        return loss

    for i in range(2):
        step(i)
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    t = time.time()
    tokens = examples = 0
    for i in range(2, 2 + args.steps):
        loss = step(i)
        tokens += real_tokens[i % len(batches)]
        examples += len(plan[i % len(plan)]["prompt"])
    torch.cuda.synchronize()
    dt = time.time() - t
    print(json.dumps({
        "impl": "pytorch+peft bf16" + (" +ckpt" if args.gradient_checkpointing else ""),
        "device": torch.cuda.get_device_name(0),
        "trainable_params": trainable,
        "build_s": round(build_s, 1),
        "steps": args.steps,
        "step_s": round(dt / args.steps, 4),
        "real_tokens_per_s": round(tokens / dt, 1),
        "examples_per_s": round(examples / dt, 2),
        "epoch_min_12008": round(12008 / (examples / dt) / 60, 1),
        "peak_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2),
        "last_loss": float(loss),
    }))


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""Trains Ravel's bundled demo model: a small byte-level RWKV-7 chat model.

Run with Debian's Python, which sees python3-torch and python3-numpy:

    /usr/bin/python3 tools/train-demo-model/train.py --out resources/models

It writes, into --out:
  ravel-demo-rwkv7.pth         BlinkDL checkpoint (torch.save of an OrderedDict name -> tensor)
  demo-heldout.json            evaluation questions that never occur in the training corpus
  demo-crosscheck.json         token sequences and this program's own logits for them
  demo-training-loss.csv/.png  the loss curve
  demo-training.json           the configuration and results of the run (for the model card)

Tokens are bytes: token id = byte value, vocabulary 256 (the convention of rwkv.cpp's tiny
byte-level models and of Ravel's byte tokenizer).
"""

import argparse
import csv
import json
import math
import os
import random
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import corpus  # noqa: E402
from rwkv7 import RWKV7, Config  # noqa: E402

MODEL_FILE = "ravel-demo-rwkv7.pth"
TRAIN_SEED = 20250101
HELDOUT_SEED = 777
STOP = b"\n\n"


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default="resources/models")
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--dim", type=int, default=256)
    p.add_argument("--ffn", type=int, default=768)
    p.add_argument("--head-size", type=int, default=64)
    p.add_argument("--ctx", type=int, default=160, help="bytes per training sequence")
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--steps", type=int, default=550)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--lr-final", type=float, default=1e-4)
    p.add_argument("--warmup", type=int, default=50)
    # One thread: on a busy machine two OpenMP threads wait on each other at every small op.
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--eval-every", type=int, default=100)
    p.add_argument("--mix", default=None, help='topic shares, e.g. "arithmetic=0.55,conversion=0.12,'
                   'days=0.09,fact=0.18,greeting=0.06" (the default)')
    p.add_argument("--arithmetic", choices=["worked", "plain"], default="worked",
                   help='reply style for two-digit sums: "23 + 45 = 20 + 40 + 3 + 5 = 60 + 8 = 68." or "23 + 45 = 68."')
    p.add_argument("--no-extra-phrasings", action="store_true", help="train facts on corpus.FACTS phrasings only")
    p.add_argument("--init", default=None, help="continue from this BlinkDL .pth (its shapes override the size options)")
    p.add_argument("--prev-loss", default=None, help="loss CSV of the stage --init came from; "
                   "its rows open this run's CSV and plot, so one curve covers all stages")
    p.add_argument("--seed", type=int, default=TRAIN_SEED, help="corpus and initialisation seed")
    p.add_argument("--dtype", choices=["fp32", "fp16"], default="fp32", help="weight type in the .pth")
    return p.parse_args()


def make_batch(gen, batch, ctx):
    xs, ys, ms = [], [], []
    for _ in range(batch):
        text, mask = gen.conversation(ctx + 1)
        pad = ctx + 1 - len(text)
        text, mask = text + b"\0" * pad, mask + b"\0" * pad
        xs.append(list(text[:-1]))
        ys.append(list(text[1:]))
        ms.append(list(mask[1:]))
    return torch.tensor(xs), torch.tensor(ys), torch.tensor(ms, dtype=torch.float32)


@torch.no_grad()
def greedy_reply(model, prompt, max_bytes=120):
    """Feeds the prompt, then takes the argmax byte until a blank line (as the engine test does)."""
    logits, state = model(torch.tensor([list(prompt)]))
    out = bytearray()
    while len(out) < max_bytes:
        tok = int(logits[0, -1].argmax())
        out.append(tok)
        if out.endswith(STOP):
            break
        logits, state = model(torch.tensor([[tok]]), state)
    return bytes(out)


def chat_prompt(question):
    return ("User: %s\n\nAssistant:" % question).encode()


def evaluate(model, items):
    correct = 0
    for it in items:
        reply = greedy_reply(model, chat_prompt(it["question"]))
        ok = it["expect"].encode() in reply
        correct += ok
    return correct / max(len(items), 1)


def lr_at(step, args):
    if step < args.warmup:
        return args.lr * (step + 1) / args.warmup
    t = (step - args.warmup) / max(args.steps - args.warmup, 1)
    return args.lr_final + 0.5 * (args.lr - args.lr_final) * (1 + math.cos(math.pi * t))


def write_plot(rows, path):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib not installed (apt-get install python3-matplotlib); no PNG plot written")
        return
    fig, ax = plt.subplots(figsize=(6, 3.6), dpi=100)
    for stage in sorted({r.get("stage", 1) for r in rows}):
        part = [r for r in rows if r.get("stage", 1) == stage]
        ax.plot([r["step"] for r in part], [r["loss"] for r in part], lw=1,
                label="stage %d: train loss on reply bytes" % stage)
    ax.set_xlabel("step")
    ax.set_ylabel("cross-entropy (nats/byte)")
    ax.set_yscale("log")
    ax.grid(True, alpha=0.3)
    ax.legend()
    ax.set_title("Ravel demo model (RWKV-7) training loss")
    fig.tight_layout()
    fig.savefig(path, metadata={"Software": None})
    plt.close(fig)


def crosscheck(model, n_rows=8):
    """Reference logits from this program's own forward pass, for the engine test."""
    texts = [
        "User: What is 2+3?\n\nAssistant:",
        "User: Hello\n\nAssistant: Hello! I am the small demo model that comes with Ravel.\n\nUser: What is RWKV?\n\nAssistant:",
        "User: How many centimeters are in 7 meters?\n\nAssistant: 7 meters = 700 centimeters.\n\nUser: What is 45-18?\n\nAssistant: 45 -",
        "\x00\xff byte-level: \xe4\xbd\xa0\xe5\xa5\xbd \x7f\x80",  # arbitrary bytes: every id 0..255 is a token
    ]
    seqs = []
    with torch.no_grad():
        for i, t in enumerate(texts):
            toks = list(t.encode("latin-1")) if i == 3 else list(t.encode())
            logits, _ = model(torch.tensor([toks]))
            rows = logits[0, -n_rows:]
            seqs.append({
                "text_hex": bytes(toks).hex(),
                "tokens": toks,
                "first_row": len(toks) - rows.shape[0],
                "logits": [[float("%.7g" % v) for v in r.tolist()] for r in rows],
                "argmax": [int(r.argmax()) for r in rows],
            })
    return seqs


def use_openblas(threads):
    """Debian's python3-torch calls the system BLAS, whose default is the slow reference one.
    If OpenBLAS is installed (libopenblas0-pthread) use it for this process only, by restarting
    with it first on the library path; this is 20-30x faster for the matrix products."""
    lib = "/usr/lib/x86_64-linux-gnu/openblas-pthread"
    if os.path.isdir(lib) and os.environ.get("RAVEL_DEMO_BLAS") != "1":
        env = dict(os.environ, RAVEL_DEMO_BLAS="1", OPENBLAS_NUM_THREADS=str(threads),
                   LD_LIBRARY_PATH=lib + ":" + os.environ.get("LD_LIBRARY_PATH", ""))
        os.execve(sys.executable, [sys.executable] + sys.argv, env)


def main():
    args = parse_args()
    use_openblas(args.threads)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    random.seed(args.seed)
    os.makedirs(args.out, exist_ok=True)

    heldout = corpus.heldout_set(HELDOUT_SEED)
    heldout_questions = {it["question"] for it in heldout}
    mix = corpus.parse_mix(args.mix) if args.mix else corpus.DEFAULT_MIX
    gen = corpus.Generator(args.seed, corpus.heldout_fact_forms(), mix, args.arithmetic == "worked",
                           not args.no_extra_phrasings)

    if args.init:
        model = RWKV7.from_blinkdl(torch.load(args.init))
        model.train()
        cfg = model.cfg
    else:
        cfg = Config(args.layers, args.dim, args.head_size, args.ffn)
        model = RWKV7(cfg)
    n_params = sum(t.numel() for t in model.blinkdl_state_dict().values())
    print("params %d (%.2fM)" % (n_params, n_params / 1e6), flush=True)

    decay, no_decay = [], []
    for name, p in model.named_parameters():
        (decay if p.dim() == 2 and "emb" not in name else no_decay).append(p)
    opt = torch.optim.Adam([{"params": decay}, {"params": no_decay}], lr=args.lr, betas=(0.9, 0.99), eps=1e-8)

    prev_rows = []
    if args.prev_loss:
        with open(args.prev_loss) as f:
            prev_rows = [{k: (float(v) if k != "stage" else int(v)) for k, v in r.items()} for r in csv.DictReader(f)]
    stage = int(prev_rows[-1].get("stage", 1)) + 1 if prev_rows else 1
    step0 = int(prev_rows[-1]["step"]) if prev_rows else 0
    bytes0 = int(prev_rows[-1]["bytes_seen"]) if prev_rows else 0
    seconds0 = float(prev_rows[-1]["seconds"]) if prev_rows else 0.0
    for r in prev_rows:
        r.setdefault("stage", 1)
        r["step"], r["bytes_seen"] = int(r["step"]), int(r["bytes_seen"])
    rows, t0, leaked = [], time.time(), 0
    eval_sample = heldout[::4]
    evals = []
    for step in range(args.steps):
        x, y, m = make_batch(gen, args.batch, args.ctx)
        for g in opt.param_groups:
            g["lr"] = lr_at(step, args)
        logits, _ = model(x)
        ce = F.cross_entropy(logits.reshape(-1, cfg.vocab), y.reshape(-1), reduction="none")
        loss = (ce * m.reshape(-1)).sum() / m.sum()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        rows.append({"stage": stage, "step": step0 + step + 1, "bytes_seen": bytes0 + (step + 1) * args.batch * args.ctx,
                     "loss": loss.item(), "lr": opt.param_groups[0]["lr"],
                     "seconds": round(seconds0 + time.time() - t0, 1)})
        if step % 10 == 0:
            print("step %d loss %.4f lr %.2e %.0fs" % (step, loss.item(), rows[-1]["lr"], time.time() - t0), flush=True)
        if args.eval_every and (step + 1) % args.eval_every == 0 and step + 1 < args.steps:
            model.eval()
            acc = evaluate(model, eval_sample)
            model.train()
            evals.append({"step": step + 1, "heldout_subset_accuracy": acc})
            print("step %d held-out subset accuracy %.3f" % (step + 1, acc), flush=True)
    train_seconds = time.time() - t0

    # Check the held-out questions really are absent from a large sample of the training stream.
    check = corpus.Generator(args.seed, corpus.heldout_fact_forms(), mix, args.arithmetic == "worked",
                           not args.no_extra_phrasings)
    for _ in range(20000):
        q, _ = check.exchange()
        leaked += q in heldout_questions
    if leaked:
        print("WARNING: %d held-out questions found in the training stream" % leaked)

    dtype = torch.float16 if args.dtype == "fp16" else torch.float32
    sd = model.blinkdl_state_dict(dtype)
    model_path = os.path.join(args.out, MODEL_FILE)
    torch.save(sd, model_path)
    # Everything below uses the weights exactly as saved.
    saved = RWKV7.from_blinkdl(torch.load(model_path))
    saved.eval()
    acc = evaluate(saved, heldout)
    by_kind = {}
    for kind in ("arithmetic", "conversion", "fact"):
        items = [it for it in heldout if it["kind"] == kind]
        by_kind[kind] = evaluate(saved, items)
    print("held-out accuracy %.3f %s" % (acc, by_kind), flush=True)

    with open(os.path.join(args.out, "demo-heldout.json"), "w") as f:
        json.dump({"description": "Held-out evaluation for the demo model: questions that never occur in "
                                  "its training corpus. A reply counts as correct when it contains `expect`.",
                   "prompt_format": "User: <question>\\n\\nAssistant:", "stop": "\\n\\n",
                   "seed": HELDOUT_SEED, "items": heldout}, f, indent=1)
    with open(os.path.join(args.out, "demo-crosscheck.json"), "w") as f:
        json.dump({"description": "Logits of the last rows of each sequence, computed by "
                                  "tools/train-demo-model (PyTorch, fp32) from " + MODEL_FILE,
                   "model": MODEL_FILE, "tolerance": 1e-4, "sequences": crosscheck(saved)}, f)
    rows = prev_rows + rows
    with open(os.path.join(args.out, "demo-training-loss.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["stage", "step", "bytes_seen", "loss", "lr", "seconds"])
        w.writeheader()
        w.writerows(rows)
    write_plot(rows, os.path.join(args.out, "demo-training-loss.png"))
    with open(os.path.join(args.out, "demo-training.json"), "w") as f:
        json.dump({"args": vars(args), "heldout_seed": HELDOUT_SEED,
                   "n_params": n_params, "train_seconds": round(train_seconds), "torch": torch.__version__,
                   "stage": stage, "final_loss_last50": sum(r["loss"] for r in rows[-50:]) / min(50, len(rows)),
                   "heldout_accuracy": acc, "heldout_accuracy_by_kind": by_kind, "evals": evals,
                   "heldout_leaks_in_20000_training_exchanges": leaked}, f, indent=1)


if __name__ == "__main__":
    main()

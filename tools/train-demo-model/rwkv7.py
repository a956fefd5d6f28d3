"""RWKV-7 ("Goose") for training, written for Ravel from the published equations.

The forward pass is the exact computation Ravel's engine performs at inference (ChatRWKV's
RWKV_x070 semantics, see shared/data/README.md "What the engine must compute"), so the weights
this module trains can be saved under BlinkDL's tensor names and loaded by the engine unchanged:

  x      = LayerNorm(emb[token]; ln0)
  block  : x += TimeMix(LN1(x)); x += ChannelMix(LN2(x))
  logits = head . LayerNorm(x; ln_out)

The WKV recurrence has two implementations: a token-by-token loop (an autograd Function with a
hand-written backward pass through time), which is the reference used for evaluation and for the
exported cross-check logits, and a chunked matrix form used while training, which is the same
math reorganised so a small CPU spends its time in matrix products.
"""

import math
from collections import OrderedDict

import torch
import torch.nn as nn
import torch.nn.functional as F

LN_EPS = 1e-5
GN_EPS = 64e-5
DECAY_SCALE = 0.606531  # exp(-0.5): w = exp(-exp(-0.5) * sigmoid(.)) as in ChatRWKV


def _wkv_forward(r, w, k, v, kk, a, s0):
    """All inputs (B, T, H, N); s0 (B, H, N, N) indexed [value i, key j].

    S_t = S_{t-1} * w_t[j] + (S_{t-1} @ -kk_t)[i] * (kk_t * a_t)[j] + v_t[i] * k_t[j]
    y_t = S_t @ r_t
    Returns y (B, T, H, N), the final state and every S_{t-1} (for the backward pass)."""
    B, T, H, N = r.shape
    b = kk * a
    states = r.new_empty(B, T, H, N, N)
    ys = r.new_empty(B, T, H, N)
    s = s0
    for t in range(T):
        states[:, t] = s
        sa = torch.matmul(s, -kk[:, t].unsqueeze(-1))  # (B,H,N,1)
        s = s * w[:, t].unsqueeze(-2) + sa * b[:, t].unsqueeze(-2) + v[:, t].unsqueeze(-1) * k[:, t].unsqueeze(-2)
        ys[:, t] = torch.matmul(s, r[:, t].unsqueeze(-1)).squeeze(-1)
    return ys, s, states


class WKV7(torch.autograd.Function):
    @staticmethod
    def forward(ctx, r, w, k, v, kk, a, s0):
        r, w, k, v, kk, a, s0 = (t.contiguous() for t in (r, w, k, v, kk, a, s0))
        y, s_last, states = _wkv_forward(r, w, k, v, kk, a, s0)
        ctx.save_for_backward(r, w, k, v, kk, a, states, s_last)
        return y, s_last

    @staticmethod
    def backward(ctx, dy, ds_last):
        r, w, k, v, kk, a, states, s_last = ctx.saved_tensors
        B, T, H, N = r.shape
        b = kk * a
        na = -kk
        dr, dw, dk, dv, dna, db = (torch.empty_like(r) for _ in range(6))
        ds = torch.zeros_like(s_last) if ds_last is None else ds_last.clone()
        if dy is None:
            dy = torch.zeros_like(r)
        s = s_last
        for t in range(T - 1, -1, -1):
            sp = states[:, t]  # S_{t-1}
            dyt = dy[:, t].unsqueeze(-1)  # (B,H,N,1)
            dr[:, t] = torch.matmul(s.transpose(-1, -2), dyt).squeeze(-1)
            ds = ds + dyt * r[:, t].unsqueeze(-2)
            # S_t = S_{t-1} * w + (S_{t-1} na) b^T + v k^T
            dv[:, t] = torch.matmul(ds, k[:, t].unsqueeze(-1)).squeeze(-1)
            dk[:, t] = torch.matmul(ds.transpose(-1, -2), v[:, t].unsqueeze(-1)).squeeze(-1)
            dw[:, t] = (ds * sp).sum(-2)
            ds_b = torch.matmul(ds, b[:, t].unsqueeze(-1))  # (B,H,N,1) = dS b
            dna[:, t] = torch.matmul(sp.transpose(-1, -2), ds_b).squeeze(-1)
            sa = torch.matmul(sp, na[:, t].unsqueeze(-1))  # (B,H,N,1)
            db[:, t] = (ds * sa).sum(-2)
            ds = ds * w[:, t].unsqueeze(-2) + ds_b * na[:, t].unsqueeze(-2)
            s = sp
        dkk = -dna + db * a
        da = db * kk
        return dr, dw, dk, dv, dkk, da, ds


def wkv7_chunked(r, w, k, v, kk, a, s0, L=32):
    """The same recurrence in chunks of L tokens, as matrix products (training speed only).

    Within a chunk, with c_t the cumulative log decay, u_t = S_{t-1} (-kk_t) solves a unit
    lower-triangular system, and y and the final state follow from it in closed form. The
    decay w >= exp(-0.606531) bounds exp(-c) by 1/0.545^L, so fp32 is fine for L <= 32.
    Agrees with the token loop to ~1e-6 relative; the exported checks use the loop."""
    B, T, H, N = r.shape
    assert T % L == 0
    nc = T // L
    f = lambda t: t.view(B, nc, L, H, N).permute(0, 3, 1, 2, 4)
    r, w, k, v, kk, a = map(f, (r, w, k, v, kk, a))  # (B,H,nc,L,N)
    na, b = -kk, kk * a
    c = torch.cumsum(torch.log(w), dim=-2)  # inclusive
    cprev = c - torch.log(w)
    cl = c[..., -1:, :]
    rt = r * torch.exp(c)
    nat = na * torch.exp(cprev)
    kt = k * torch.exp(-c)
    bt = b * torch.exp(-c)
    kh = k * torch.exp(cl - c)
    bh = b * torch.exp(cl - c)
    strict = torch.tril(torch.ones(L, L, dtype=torch.bool), -1)
    incl = torch.tril(torch.ones(L, L, dtype=torch.bool), 0)
    Ab = (nat @ bt.transpose(-1, -2)).masked_fill(~strict, 0)
    Ak = (nat @ kt.transpose(-1, -2)).masked_fill(~strict, 0)
    Rk = (rt @ kt.transpose(-1, -2)).masked_fill(~incl, 0)
    Rb = (rt @ bt.transpose(-1, -2)).masked_fill(~incl, 0)
    lhs = torch.eye(L) - Ab  # unit lower triangular
    ys = []
    s = s0  # (B,H,N,N)
    # unbind (not indexing) so the backward pass stacks gradients instead of zero-filling copies
    per_chunk = zip(*(t.unbind(2) for t in (nat, rt, v, Ak, Rk, Rb, lhs, kh, bh, torch.exp(cl))))
    for nat_i, rt_i, v_i, ak_i, rk_i, rb_i, lhs_i, kh_i, bh_i, dl_i in per_chunk:
        rhs = nat_i @ s.transpose(-1, -2) + ak_i @ v_i
        U = torch.linalg.solve_triangular(lhs_i, rhs, upper=False, unitriangular=True)
        ys.append(rt_i @ s.transpose(-1, -2) + rk_i @ v_i + rb_i @ U)
        s = s * dl_i + v_i.transpose(-1, -2) @ kh_i + U.transpose(-1, -2) @ bh_i
    y = torch.stack(ys, 2)  # B,H,nc,L,N
    return y.permute(0, 2, 3, 1, 4).reshape(B, T, H, N), s


def wkv7(r, w, k, v, kk, a, s0, use_autograd_loop=False, chunk=32):
    if use_autograd_loop:  # plain autograd through the loop; used to check WKV7.backward
        y, s, _ = _wkv_forward(r, w, k, v, kk, a, s0)
        return y, s
    if chunk and r.shape[1] % chunk == 0 and torch.is_grad_enabled():
        return wkv7_chunked(r, w, k, v, kk, a, s0, chunk)
    return WKV7.apply(r, w, k, v, kk, a, s0)


class Config:
    def __init__(self, n_layer, n_embd, head_size, dim_ffn, vocab=256, lora_w=32, lora_a=32, lora_v=16, lora_g=64):
        self.n_layer, self.n_embd, self.head_size = n_layer, n_embd, head_size
        self.n_head = n_embd // head_size
        self.dim_ffn, self.vocab = dim_ffn, vocab
        self.lora_w, self.lora_a, self.lora_v, self.lora_g = lora_w, lora_a, lora_v, lora_g


def _orth(shape, gain):
    t = torch.empty(shape)
    nn.init.orthogonal_(t, gain=gain)
    return t


class TimeMix(nn.Module):
    def __init__(self, cfg, layer):
        super().__init__()
        C, H, N = cfg.n_embd, cfg.n_head, cfg.head_size
        self.layer, self.H, self.N = layer, H, N
        r01 = layer / max(cfg.n_layer - 1, 1)
        r10 = 1.0 - layer / cfg.n_layer
        ddd = torch.arange(C, dtype=torch.float32) / C
        vec = lambda p: nn.Parameter((1.0 - ddd.pow(p * r10)).view(1, 1, C))
        self.x_r, self.x_w, self.x_k = vec(0.2), vec(0.9), vec(0.7)
        self.x_v, self.x_a, self.x_g = vec(0.7), vec(0.9), vec(0.2)
        n = torch.arange(C, dtype=torch.float32) / (C - 1)
        decay = -7 + 5 * n.pow(0.85 + 1.0 * r01 ** 0.5)
        self.w0 = nn.Parameter((decay + 0.5).view(1, 1, C))
        self.w1 = nn.Parameter(torch.zeros(C, cfg.lora_w))
        self.w2 = nn.Parameter(_orth((cfg.lora_w, C), 0.1))
        self.a0 = nn.Parameter(torch.zeros(1, 1, C))
        self.a1 = nn.Parameter(torch.zeros(C, cfg.lora_a))
        self.a2 = nn.Parameter(_orth((cfg.lora_a, C), 0.1))
        if layer > 0:
            self.v0 = nn.Parameter(torch.ones(1, 1, C))
            self.v1 = nn.Parameter(torch.zeros(C, cfg.lora_v))
            self.v2 = nn.Parameter(_orth((cfg.lora_v, C), 0.1))
        self.g1 = nn.Parameter(torch.zeros(C, cfg.lora_g))
        self.g2 = nn.Parameter(_orth((cfg.lora_g, C), 0.1))
        self.k_k = nn.Parameter(torch.full((1, 1, C), 0.85))
        self.k_a = nn.Parameter(torch.ones(1, 1, C))
        self.r_k = nn.Parameter(torch.full((H, N), -0.04))
        bound = 0.5 / math.sqrt(C)
        self.receptance = nn.Linear(C, C, bias=False)
        self.key = nn.Linear(C, C, bias=False)
        self.value = nn.Linear(C, C, bias=False)
        self.output = nn.Linear(C, C, bias=False)
        for lin in (self.receptance, self.key, self.value):
            nn.init.uniform_(lin.weight, -bound, bound)
        nn.init.zeros_(self.output.weight)
        self.ln_x = nn.GroupNorm(H, C, eps=GN_EPS)
        with torch.no_grad():
            self.ln_x.weight.fill_(((1 + layer) / cfg.n_layer) ** 0.7)

    def forward(self, x, x_prev, s0, v_first, exact=False):
        """x: (B,T,C) LN1 output; x_prev: (B,C) LN1 output of the token before the chunk."""
        B, T, C = x.shape
        H, N = self.H, self.N
        shifted = torch.cat([x_prev.unsqueeze(1), x[:, :-1]], dim=1)
        xx = shifted - x
        xr, xw, xk = x + xx * self.x_r, x + xx * self.x_w, x + xx * self.x_k
        xv, xa, xg = x + xx * self.x_v, x + xx * self.x_a, x + xx * self.x_g
        r = self.receptance(xr)
        w = torch.tanh(xw @ self.w1) @ self.w2
        k = self.key(xk)
        v = self.value(xv)
        a = torch.sigmoid(self.a0 + (xa @ self.a1) @ self.a2)
        g = torch.sigmoid(xg @ self.g1) @ self.g2
        kk = F.normalize((k * self.k_k).view(B, T, H, N), dim=-1, p=2.0, eps=1e-12).view(B, T, C)
        k = k * (1 + (a - 1) * self.k_a)
        if self.layer == 0:
            v_first = v
        else:
            v = v + (v_first - v) * torch.sigmoid(self.v0 + (xv @ self.v1) @ self.v2)
        w = torch.exp(-DECAY_SCALE * torch.sigmoid(self.w0 + w))
        hv = lambda t: t.view(B, T, H, N)
        y, s = wkv7(hv(r), hv(w), hv(k), hv(v), hv(kk), hv(a), s0, use_autograd_loop=exact)
        y = self.ln_x(y.reshape(B * T, C)).view(B, T, C)
        bonus = (hv(r) * hv(k) * self.r_k).sum(-1, keepdim=True) * hv(v)
        y = y + bonus.reshape(B, T, C)
        return self.output(y * g), x[:, -1], s, v_first


class ChannelMix(nn.Module):
    def __init__(self, cfg, layer):
        super().__init__()
        C = cfg.n_embd
        r10 = 1.0 - layer / cfg.n_layer
        ddd = torch.arange(C, dtype=torch.float32) / C
        self.x_k = nn.Parameter((1.0 - ddd.pow(r10 ** 4)).view(1, 1, C))
        self.key = nn.Linear(C, cfg.dim_ffn, bias=False)
        self.value = nn.Linear(cfg.dim_ffn, C, bias=False)
        nn.init.orthogonal_(self.key.weight, gain=1.0)
        nn.init.zeros_(self.value.weight)

    def forward(self, x, x_prev):
        shifted = torch.cat([x_prev.unsqueeze(1), x[:, :-1]], dim=1)
        k = x + (shifted - x) * self.x_k
        return self.value(torch.relu(self.key(k)) ** 2), x[:, -1]


class Block(nn.Module):
    def __init__(self, cfg, layer):
        super().__init__()
        C = cfg.n_embd
        if layer == 0:
            self.ln0 = nn.LayerNorm(C, eps=LN_EPS)
        self.ln1 = nn.LayerNorm(C, eps=LN_EPS)
        self.ln2 = nn.LayerNorm(C, eps=LN_EPS)
        self.att = TimeMix(cfg, layer)
        self.ffn = ChannelMix(cfg, layer)


class RWKV7(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        C = cfg.n_embd
        self.emb = nn.Embedding(cfg.vocab, C)
        nn.init.uniform_(self.emb.weight, -1e-4, 1e-4)
        self.blocks = nn.ModuleList(Block(cfg, i) for i in range(cfg.n_layer))
        self.ln_out = nn.LayerNorm(C, eps=LN_EPS)
        self.head = nn.Linear(C, cfg.vocab, bias=False)
        nn.init.orthogonal_(self.head.weight, gain=0.5 * math.sqrt(cfg.vocab / C) if cfg.vocab > C else 0.5)

    def zero_state(self, B):
        c = self.cfg
        z = lambda *s: torch.zeros(*s)
        return [(z(B, c.n_embd), z(B, c.n_head, c.head_size, c.head_size), z(B, c.n_embd)) for _ in range(c.n_layer)]

    def forward(self, tokens, state=None, exact=False):
        """tokens (B,T) int64. Returns logits (B,T,V) and the state after the chunk, in
        ChatRWKV's layout per layer: (att_x_prev, att_kv [H, value, key], ffn_x_prev)."""
        B, T = tokens.shape
        if state is None:
            state = self.zero_state(B)
        x = self.blocks[0].ln0(self.emb(tokens))
        v_first = None
        new_state = []
        for i, blk in enumerate(self.blocks):
            att_prev, kv, ffn_prev = state[i]
            h = blk.ln1(x)
            dx, att_last, kv, v_first = blk.att(h, att_prev, kv, v_first, exact=exact)
            x = x + dx
            h = blk.ln2(x)
            dx, ffn_last = blk.ffn(h, ffn_prev)
            x = x + dx
            new_state.append((att_last, kv, ffn_last))
        return self.head(self.ln_out(x)), new_state

    def blinkdl_state_dict(self, dtype=torch.float32):
        """Tensors under BlinkDL's RWKV-7 checkpoint names and shapes, in checkpoint order."""
        out = OrderedDict()
        put = lambda name, t: out.__setitem__(name, t.detach().to(dtype).contiguous().clone())
        put("emb.weight", self.emb.weight)
        for i, blk in enumerate(self.blocks):
            p = "blocks.%d." % i
            for ln in ("ln1", "ln2") + (("ln0",) if i == 0 else ()):
                put(p + ln + ".weight", getattr(blk, ln).weight)
                put(p + ln + ".bias", getattr(blk, ln).bias)
            att = blk.att
            names = ["x_r", "x_w", "x_k", "x_v", "x_a", "x_g", "w0", "w1", "w2", "a0", "a1", "a2"]
            if i > 0:
                names += ["v0", "v1", "v2"]
            names += ["g1", "g2", "k_k", "k_a", "r_k"]
            for n in names:
                put(p + "att." + n, getattr(att, n))
            for n in ("receptance", "key", "value", "output"):
                put(p + "att.%s.weight" % n, getattr(att, n).weight)
            put(p + "att.ln_x.weight", att.ln_x.weight)
            put(p + "att.ln_x.bias", att.ln_x.bias)
            put(p + "ffn.x_k", blk.ffn.x_k)
            put(p + "ffn.key.weight", blk.ffn.key.weight)
            put(p + "ffn.value.weight", blk.ffn.value.weight)
        put("ln_out.weight", self.ln_out.weight)
        put("ln_out.bias", self.ln_out.bias)
        put("head.weight", self.head.weight)
        return out

    @staticmethod
    def from_blinkdl(sd):
        """Builds a model from a BlinkDL-named RWKV-7 state dict (shapes decide the config)."""
        n_layer = 1 + max(int(k.split(".")[1]) for k in sd if k.startswith("blocks."))
        H, N = sd["blocks.0.att.r_k"].shape
        C = sd["emb.weight"].shape[1]
        lv = sd["blocks.1.att.v1"].shape[1] if n_layer > 1 else 16
        cfg = Config(n_layer, C, N, sd["blocks.0.ffn.key.weight"].shape[0], vocab=sd["emb.weight"].shape[0],
                     lora_w=sd["blocks.0.att.w1"].shape[1], lora_a=sd["blocks.0.att.a1"].shape[1],
                     lora_v=lv, lora_g=sd["blocks.0.att.g1"].shape[1])
        m = RWKV7(cfg)
        own = m.blinkdl_state_dict()
        with torch.no_grad():
            for name, t in own.items():
                target = m._blinkdl_param(name)
                target.copy_(sd[name].float().view_as(target))
        return m

    def _blinkdl_param(self, name):
        parts = name.split(".")
        obj = self
        if parts[0] == "blocks":
            obj = self.blocks[int(parts[1])]
            parts = parts[2:]
        for p in parts:
            obj = getattr(obj, p)
        return obj

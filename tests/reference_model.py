"""A deliberately simple, independent MambaVision forward pass written from the equations.

It reads the weights by their published names from a state dict and uses explicit loops (one window,
one token, one time step at a time), so it shares no code with the package. Use float64 inputs.
"""
import math

import torch
import torch.nn.functional as F


def batch_norm(x, sd, prefix, eps):
    shape = (1, -1, 1, 1)
    mean, var = sd[prefix + '.running_mean'].view(shape), sd[prefix + '.running_var'].view(shape)
    return (x - mean) / torch.sqrt(var + eps) * sd[prefix + '.weight'].view(shape) + sd[prefix + '.bias'].view(shape)


def layer_norm(x, weight, bias, eps=1e-5):
    mean = x.mean(-1, keepdim=True)
    var = ((x - mean) ** 2).mean(-1, keepdim=True)
    return (x - mean) / torch.sqrt(var + eps) * weight + bias


def gelu_tanh(x):
    return 0.5 * x * (1 + torch.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))


def gelu_exact(x):
    return 0.5 * x * (1 + torch.erf(x / math.sqrt(2)))


def silu(x):
    return x / (1 + torch.exp(-x))


def softplus(x):
    return torch.log1p(torch.exp(x))


def conv(x, sd, prefix, stride=1, bias=True):
    return F.conv2d(x, sd[prefix + '.weight'], sd[prefix + '.bias'] if bias else None, stride=stride, padding=1)


def depthwise_same_conv(seq, weight):
    """seq (L, d), weight (d, 1, 3): out[t] = w0 * seq[t-1] + w1 * seq[t] + w2 * seq[t+1], zeros outside."""
    padded = torch.cat([seq.new_zeros(1, seq.shape[1]), seq, seq.new_zeros(1, seq.shape[1])])
    return padded[:-2] * weight[:, 0, 0] + padded[1:-1] * weight[:, 0, 1] + padded[2:] * weight[:, 0, 2]


def mixer(tokens, sd, p):
    half = tokens.shape[1] // 2
    xz = tokens @ sd[p + 'in_proj.weight'].T
    x = silu(depthwise_same_conv(xz[:, :half], sd[p + 'conv1d_x.weight']))
    z = silu(depthwise_same_conv(xz[:, half:], sd[p + 'conv1d_z.weight']))
    rank = sd[p + 'dt_proj.weight'].shape[1]
    n = sd[p + 'A_log'].shape[1]
    proj = x @ sd[p + 'x_proj.weight'].T
    dt, b, c = proj[:, :rank], proj[:, rank:rank + n], proj[:, rank + n:]
    bias = sd[p + 'dt_proj.bias']
    delta = softplus(dt @ sd[p + 'dt_proj.weight'].T + bias + bias)  # the bias enters twice
    a = -torch.exp(sd[p + 'A_log'])
    h = tokens.new_zeros(half, n)
    ys = []
    for t in range(tokens.shape[0]):
        h = torch.exp(delta[t][:, None] * a) * h + (delta[t] * x[t])[:, None] * b[t][None, :]
        ys.append(h @ c[t] + sd[p + 'D'] * x[t])
    return torch.cat([torch.stack(ys), z], dim=1) @ sd[p + 'out_proj.weight'].T


def attention(tokens, sd, p, num_heads):
    length, dim = tokens.shape
    head_dim = dim // num_heads
    qkv = (tokens @ sd[p + 'qkv.weight'].T + sd[p + 'qkv.bias']).view(length, 3, num_heads, head_dim)
    heads = []
    for i in range(num_heads):
        q, k, v = qkv[:, 0, i], qkv[:, 1, i], qkv[:, 2, i]
        heads.append(torch.softmax(q @ k.T / math.sqrt(head_dim), dim=-1) @ v)
    return torch.cat(heads, dim=1) @ sd[p + 'proj.weight'].T + sd[p + 'proj.bias']


def hybrid_block(tokens, sd, p, num_heads):
    gamma_1 = sd.get(p + 'gamma_1', 1.0)
    gamma_2 = sd.get(p + 'gamma_2', 1.0)
    normed = layer_norm(tokens, sd[p + 'norm1.weight'], sd[p + 'norm1.bias'])
    if p + 'mixer.qkv.weight' in sd:
        mixed = attention(normed, sd, p + 'mixer.', num_heads)
    else:
        mixed = mixer(normed, sd, p + 'mixer.')
    tokens = tokens + gamma_1 * mixed
    normed = layer_norm(tokens, sd[p + 'norm2.weight'], sd[p + 'norm2.bias'])
    hidden = gelu_exact(normed @ sd[p + 'mlp.fc1.weight'].T + sd[p + 'mlp.fc1.bias'])
    return tokens + gamma_2 * (hidden @ sd[p + 'mlp.fc2.weight'].T + sd[p + 'mlp.fc2.bias'])


def mixer_stage(x, sd, level, depth, num_heads, ws):
    """x (B, C, H, W): pad once, run every block on each window's row-major tokens, crop."""
    b, c, h, w = x.shape
    hp, wp = -(-h // ws) * ws, -(-w // ws) * ws
    padded = x.new_zeros(b, c, hp, wp)
    padded[:, :, :h, :w] = x
    out = padded.clone()
    for n in range(b):
        for top in range(0, hp, ws):
            for left in range(0, wp, ws):
                tokens = padded[n, :, top:top + ws, left:left + ws].reshape(c, ws * ws).T
                for i in range(depth):
                    tokens = hybrid_block(tokens, sd, f'levels.{level}.blocks.{i}.', num_heads)
                out[n, :, top:top + ws, left:left + ws] = tokens.T.reshape(c, ws, ws)
    return out[:, :, :h, :w]


def forward(x, sd, depths, num_heads, window_size, out_indices=(0, 1, 2, 3)):
    """Multi-scale outputs of a MambaVision backbone given its state dict."""
    x = F.relu(batch_norm(conv(x, sd, 'patch_embed.conv_down.0', 2, bias=False), sd, 'patch_embed.conv_down.1', 1e-4))
    x = F.relu(batch_norm(conv(x, sd, 'patch_embed.conv_down.3', 2, bias=False), sd, 'patch_embed.conv_down.4', 1e-4))
    outs = []
    for level in range(4):
        if level < 2:
            for i in range(depths[level]):
                p = f'levels.{level}.blocks.{i}.'
                y = gelu_tanh(batch_norm(conv(x, sd, p + 'conv1'), sd, p + 'norm1', 1e-5))
                y = batch_norm(conv(y, sd, p + 'conv2'), sd, p + 'norm2', 1e-5)
                if p + 'gamma' in sd:
                    y = y * sd[p + 'gamma'].view(1, -1, 1, 1)
                x = x + y
        else:
            x = mixer_stage(x, sd, level, depths[level], num_heads[level], window_size[level])
        if level in out_indices:
            normed = layer_norm(x.permute(0, 2, 3, 1), sd[f'outnorm{level}.weight'], sd[f'outnorm{level}.bias'])
            outs.append(normed.permute(0, 3, 1, 2))
        if level < 3:
            x = conv(x, sd, f'levels.{level}.downsample.reduction.0', 2, bias=False)
    return outs

"""Many streams in one batched step give each stream exactly what it gets alone (fcodec.infer.multistream)."""

import logging
from typing import Dict, List, Optional, Tuple

import pytest
import torch

from fcodec.infer.multistream import MultiStreamCodec
from fcodec.infer.streaming import decode_step, encode_step
from fcodec.models import FocalCodec, configs, grow
from fcodec.models.testing import perturb_constants, speechlike

CHUNK = 1280
Chunks = List[Tuple[torch.Tensor, torch.Tensor]]  # per chunk: (tokens (k,), audio (m,))


@pytest.fixture(scope="module")
def models() -> Dict[str, FocalCodec]:
    """The tiny causal model (50 Hz, a 16-frame attention window) and the 25 / 12.5 Hz models grown from it."""
    torch.manual_seed(0)
    base = perturb_constants(FocalCodec(**configs.tiny_causal_config())).eval()
    g25, _ = grow(base, seed=1)
    g12, _ = grow(g25, seed=2)
    return {"50hz": base, "25hz": perturb_constants(g25, 2).eval(), "12.5hz": perturb_constants(g12, 3).eval()}


def alone(model: FocalCodec, sig: torch.Tensor, chunks: Optional[int] = None) -> Chunks:
    """The stream on its own through encode_step / decode_step, chunk by chunk (a short last chunk is final)."""
    enc = dec = None
    out = []
    starts = range(0, sig.shape[0], CHUNK)
    for start in list(starts)[:chunks]:
        chunk = sig[start : start + CHUNK]
        toks, enc = encode_step(model, chunk, enc, final=chunk.shape[0] < CHUNK)
        audio, dec = decode_step(model, toks, dec, final=chunk.shape[0] < CHUNK)
        out.append((toks[0], audio[0]))
    return out


def assert_same(got: Chunks, expected: Chunks) -> None:
    assert len(got) == len(expected)
    for (toks, audio), (ref_toks, ref_audio) in zip(got, expected):
        assert torch.equal(toks, ref_toks)
        assert audio.shape == ref_audio.shape and torch.allclose(audio, ref_audio, atol=1e-5)


def assert_far_from_zero(model: FocalCodec, sig: torch.Tensor) -> None:
    """Token equality is only meaningful where float rounding cannot flip a latent's sign (as test_streaming)."""
    with torch.no_grad():
        assert model.sig_to_lats(sig[None]).abs().min() > 2e-5  # rounding moves latents by ~1e-7


# (first step, samples, steps before an early close or None): lengths off the chunk grid end with a short final
# chunk; all run past the 16-frame attention window; stream 3 leaves without a final chunk, and stream 4 joins
# in the slot that frees
PLAN = [(0, CHUNK * 14 + 333, None), (2, CHUNK * 12, None), (3, CHUNK * 9 + 640, None), (1, CHUNK * 20, 6)]
PLAN.append((8, CHUNK * 6 + 1, None))


def run_plan(codec: MultiStreamCodec, model: FocalCodec) -> None:
    """Streams of PLAN join, step and leave through ``codec``; each must get what it gets alone."""
    sigs = [speechlike(1, n, seed=10 + i)[0] for i, (_, n, _) in enumerate(PLAN)]
    for sig in sigs:
        assert_far_from_zero(model, sig)
    ids: Dict[int, int] = {}
    got: Dict[int, Chunks] = {i: [] for i in range(len(PLAN))}
    for step in range(20):
        chunks = {}
        for i, (first, num, leave_after) in enumerate(PLAN):
            k = step - first
            if k == 0:
                ids[i] = codec.open()
            if k == leave_after:
                codec.close(ids[i])
            elif 0 <= k < (leave_after or num) and k * CHUNK < num:
                chunks[ids[i]] = sigs[i][k * CHUNK : (k + 1) * CHUNK]
        for stream_id, (toks, audio) in codec.step(chunks).items():
            i = next(i for i, sid in ids.items() if sid == stream_id)
            got[i].append((toks, audio))
    assert codec.free_slots == 0 and len(codec.streams) == 4  # stream 4 took stream 3's slot
    for i, (_, _, leave_after) in enumerate(PLAN):
        assert_same(got[i], alone(model, sigs[i], leave_after))
    # a short last chunk gives its own number of tokens and samples, as encode_step / decode_step
    assert got[0][-1][0].shape == alone(model, sigs[0])[-1][0].shape


@pytest.mark.parametrize("which", ["50hz", "25hz", "12.5hz"])
def test_streams_joining_and_leaving_equal_each_stream_alone(models, which):
    run_plan(MultiStreamCodec(models[which], max_streams=4), models[which])


def test_all_slot_steps_as_captured_equal_each_stream_alone(models):
    """The CUDA-graph bookkeeping (every slot computed from static buffers, idle ones too, the served rows
    copied back), run eagerly: the capture itself needs CUDA and is not tested here."""
    from fcodec.infer.slots import StaticStep

    model = models["25hz"]
    codec = MultiStreamCodec(model, max_streams=4)
    codec._graphs = codec._capture(StaticStep)
    run_plan(codec, model)


def test_a_closed_slot_serves_a_new_stream_from_scratch(models):
    model = models["50hz"]
    first, second = speechlike(1, CHUNK * 7, seed=1)[0], speechlike(1, CHUNK * 7, seed=2)[0]
    codec = MultiStreamCodec(model, max_streams=1)
    a = codec.open()
    for k in range(5):
        codec.step({a: first[k * CHUNK : (k + 1) * CHUNK]})
    codec.close(a)
    b = codec.open()  # the only slot, still holding a's caches and tails
    assert b != a and codec.streams == [b]
    got = [codec.step({b: second[k * CHUNK : (k + 1) * CHUNK]})[b] for k in range(7)]
    assert_same(got, alone(model, second))
    with pytest.raises(KeyError, match="is not open"):
        codec.step({a: first[:CHUNK]})


def test_encode_only_and_decode_only(models):
    model = models["25hz"]
    sigs = [speechlike(1, CHUNK * 8, seed=20 + i)[0] for i in range(3)]
    sender, receiver = MultiStreamCodec(model, max_streams=3), MultiStreamCodec(model, max_streams=3)
    tx = [sender.open() for _ in sigs]
    rx = [receiver.open() for _ in sigs]
    toks: List[List[torch.Tensor]] = [[] for _ in sigs]
    audio: List[List[torch.Tensor]] = [[] for _ in sigs]
    for k in range(8):
        # streams take turns to skip a step: a stream's state waits in its slot
        active = [i for i in range(3) if (k + i) % 3 or k == 0]
        out = sender.encode({tx[i]: sigs[i][len(toks[i]) * CHUNK :][:CHUNK] for i in active})
        for i in active:
            toks[i].append(out[tx[i]])
        ready = {rx[i]: toks[i][len(audio[i])] for i in range(3) if len(audio[i]) < len(toks[i])}
        decoded = receiver.decode(ready)
        for i in range(3):
            if rx[i] in decoded:
                audio[i].append(decoded[rx[i]])
    for i, sig in enumerate(sigs):
        expected = alone(model, sig, len(toks[i]))
        assert [t.shape for t in toks[i]] == [(2,)] * len(expected)
        assert_same(list(zip(toks[i], audio[i])), expected[: len(audio[i])])


def test_bad_input_fails_clearly_and_changes_nothing(models, caplog):
    model = models["50hz"]
    sig = speechlike(1, CHUNK * 3, seed=3)[0]
    codec = MultiStreamCodec(model, max_streams=2)
    a, b = codec.open(), codec.open()
    with pytest.raises(RuntimeError, match="all 2 stream slots are in use"):
        codec.open()
    first = codec.step({a: sig[:CHUNK]})[a]
    for bad in (torch.zeros(CHUNK + 1), torch.zeros(0), torch.zeros(2, CHUNK)):
        with pytest.raises(ValueError, match=f"stream {b}: a step takes one chunk of 1280 samples"):
            codec.step({a: sig[CHUNK : 2 * CHUNK], b: bad})  # a's chunk is not consumed either
    with pytest.raises(KeyError, match="stream 7 is not open"):
        codec.encode({a: sig[CHUNK : 2 * CHUNK], 7: sig[:CHUNK]})
    with pytest.raises(ValueError, match="one chunk of 4 integer tokens"):
        codec.decode({b: torch.zeros(5, dtype=torch.long)})
    with pytest.raises(ValueError, match=r"tokens must lie in \[0, 2048\)"):
        codec.decode({b: torch.tensor([0, 1, 2, 2048])})
    rest = [codec.step({a: sig[k * CHUNK : (k + 1) * CHUNK]})[a] for k in (1, 2)]
    assert_same([first, *rest], alone(model, sig))
    codec.step({b: sig[:1000]})  # a short chunk ends b
    with pytest.raises(RuntimeError, match=f"stream {b}: finished"):
        codec.step({b: sig[:CHUNK]})
    codec.close(b)
    with pytest.raises(KeyError, match="is not open"):
        codec.close(b)
    noncausal = FocalCodec(**configs.tiny_noncausal_config())
    with pytest.raises(ValueError, match="needs a causal codec"):
        MultiStreamCodec(noncausal, max_streams=1)
    with caplog.at_level(logging.WARNING):  # CUDA graphs need CUDA: elsewhere the steps run eagerly
        eager = MultiStreamCodec(model, max_streams=1, cuda_graphs=True)
    assert "cuda_graphs needs a CUDA device" in caplog.text
    c = eager.open()
    assert_same([eager.step({c: sig[:CHUNK]})[c]], alone(model, sig, 1))

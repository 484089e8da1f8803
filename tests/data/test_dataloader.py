import io

import numpy as np
import pytest
import torch
from lhotse import CutSet

from fcodec.data import build_dataloader
from fcodec.data.dataset import CodecDataset


@pytest.fixture(scope="module")
def train_path(small_cuts):
    return small_cuts / "train.jsonl.gz"


def _batches(dl, epoch=0):
    dl.sampler.set_epoch(epoch)
    return list(dl)


def test_training_batches_are_random_crops_of_the_right_shape(train_path):
    dl = build_dataloader(train_path, train=True, max_duration=6.0, segment_duration=1.5, seed=1)
    cuts = {c.id: c for c in CutSet.from_file(train_path)}
    batches = _batches(dl)
    assert sum(len(b["cut_id"]) for b in batches) == len(cuts)  # one epoch sees every cut once
    offsets = []
    for batch in batches:
        audio, lens = batch["audio"], batch["audio_lens"]
        assert audio.dtype == torch.float32 and lens.dtype == torch.int64
        assert audio.shape == (len(batch["cut_id"]), 24000) and len(batch["cut_id"]) <= 4  # 6 s of 1.5 s crops
        assert set(batch["language"]) <= {"zh", "en"} and len(batch["text"]) == len(batch["cut_id"])
        for row, n, cut_id, text, lang in zip(audio, lens, batch["cut_id"], batch["text"], batch["language"]):
            cut = cuts[cut_id]
            assert n == min(24000, cut.num_samples) and text == cut.supervisions[0].text
            assert lang == cut.supervisions[0].language
            full = cut.load_audio()[0]
            crop = row[:n].numpy()
            # the crop is a contiguous piece of the utterance, starting somewhere inside it
            starts = [s for s in range(0, len(full) - n + 1) if np.array_equal(full[s : s + 8], crop[:8])]
            assert any(np.allclose(full[s : s + n], crop, atol=1e-6) for s in starts)
            offsets.append(starts[0])
    assert len(set(offsets)) > len(offsets) // 2  # random offsets, not the start of every cut
    assert {lang for b in batches for lang in b["language"]} == {"zh", "en"}


def test_the_same_batch_gets_the_same_crops_in_any_process(train_path):
    cuts = CutSet.from_file(train_path).subset(first=4)
    a = CodecDataset(segment_duration=1.0, seed=5)[cuts]
    b = CodecDataset(segment_duration=1.0, seed=5)[cuts]
    c = CodecDataset(segment_duration=1.0, seed=6)[cuts]
    assert torch.equal(a["audio"], b["audio"]) and not torch.equal(a["audio"], c["audio"])
    whole = CodecDataset()[cuts]
    assert whole["audio_lens"].tolist() == [cut.num_samples for cut in cuts]


def test_evaluation_yields_whole_utterances_in_a_fixed_order(small_cuts):
    path = small_cuts / "test_aishell.jsonl.gz"
    cuts = {c.id: c for c in CutSet.from_file(path)}
    first = list(build_dataloader(path, train=False, max_duration=12.0))
    again = list(build_dataloader(path, train=False, max_duration=12.0))
    assert [b["cut_id"] for b in first] == [b["cut_id"] for b in again]
    seen = []
    for batch in first:
        assert batch["audio"].shape[1] == int(batch["audio_lens"].max())
        for row, n, cut_id in zip(batch["audio"], batch["audio_lens"], batch["cut_id"]):
            assert n == cuts[cut_id].num_samples
            np.testing.assert_allclose(row[:n].numpy(), cuts[cut_id].load_audio()[0], atol=1e-6)
            assert torch.all(row[n:] == 0)
        seen += batch["cut_id"]
    assert sorted(seen) == sorted(cuts)
    assert all(b["language"] == ["zh"] * len(b["cut_id"]) for b in first)
    # an utterance longer than max_duration comes alone in its batch; none is dropped
    with pytest.warns(UserWarning, match="exceeded the max_duration"):
        short = [i for b in build_dataloader(path, train=False, max_duration=1.0) for i in b["cut_id"]]
    assert sorted(short) == sorted(cuts)


@pytest.mark.parametrize("num_workers", [0, 2])
def test_a_resumed_loader_continues_with_the_next_batch(train_path, num_workers):
    def loader():
        return build_dataloader(
            train_path,
            train=True,
            max_duration=2.0,
            segment_duration=1.0,
            num_workers=num_workers,
            seed=7,
            prefetch_factor=2 if num_workers else None,
        )

    dl = loader()
    dl.sampler.set_epoch(3)
    reference, state = [], None
    for i, batch in enumerate(dl):
        reference.append(batch)
        if i == 2:  # workers have drawn batches ahead by now; the state must not count those
            buffer = io.BytesIO()  # as a checkpoint holds it: torch.save, loaded back with weights_only=True
            torch.save(dl.sampler.state_dict(), buffer)
            buffer.seek(0)
            state = torch.load(buffer, weights_only=True)
    assert len(reference) > 5

    resumed = loader()
    resumed.sampler.load_state_dict(state)
    resumed.sampler.set_epoch(3)  # what a training loop does at the top of the epoch: must not reset
    rest = list(resumed)
    assert [b["cut_id"] for b in rest] == [b["cut_id"] for b in reference[3:]]
    assert all(torch.equal(a["audio"], b["audio"]) for a, b in zip(rest, reference[3:]))

    resumed.sampler.set_epoch(4)  # the next epoch starts from its beginning, in a new order
    next_epoch = list(resumed)
    assert sum(len(b["cut_id"]) for b in next_epoch) == sum(len(b["cut_id"]) for b in reference)
    assert [b["cut_id"] for b in next_epoch] != [b["cut_id"] for b in reference]


def test_ranks_share_out_each_step(train_path, monkeypatch):
    ids = []
    for rank in (0, 1):
        dl = build_dataloader(
            train_path, train=True, max_duration=4.0, segment_duration=1.0, seed=2, world_size=2, rank=rank
        )
        ids.append([c for b in _batches(dl) for c in b["cut_id"]])
    assert not set(ids[0]) & set(ids[1])
    assert set(ids[0]) | set(ids[1]) == {c.id for c in CutSet.from_file(train_path)}
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")  # torchrun's variables
    dl = build_dataloader(train_path, train=True, max_duration=4.0, segment_duration=1.0, seed=2)
    assert (dl.sampler.world_size, dl.sampler.rank) == (2, 1)
    assert [c for b in _batches(dl) for c in b["cut_id"]] == ids[1]


def test_bad_arguments_are_clear_errors(train_path, tmp_path):
    with pytest.raises(FileNotFoundError, match="cut manifest not found"):
        build_dataloader(tmp_path / "nope.jsonl.gz", train=True, max_duration=4.0)
    with pytest.raises(ValueError, match="exceeds max_duration"):
        build_dataloader(train_path, train=True, max_duration=1.0, segment_duration=2.0)

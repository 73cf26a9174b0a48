"""Encoders and the SHD loader, on small files written in the SHD layout."""

import h5py
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import spyx.data as data


def write_shd(path, times, units, labels, *, drop=None, extra=False):
    """A file in the SHD layout (with Tonic's `extra` group if asked)."""
    with h5py.File(path, "w") as f:
        if extra:
            f.create_dataset("extra/keys", data=np.array([b"zero", b"one"]))
            f.create_dataset("extra/speaker", data=np.zeros(len(labels), np.uint16))
        vlen_t = h5py.vlen_dtype(np.float32)
        vlen_u = h5py.vlen_dtype(np.uint16)
        if drop != "spikes/times":
            t = f.create_dataset("spikes/times", (len(times),), dtype=vlen_t)
            for i, v in enumerate(times):
                t[i] = np.asarray(v, np.float32)
        if drop != "spikes/units":
            u = f.create_dataset("spikes/units", (len(units),), dtype=vlen_u)
            for i, v in enumerate(units):
                u[i] = np.asarray(v, np.uint16)
        if drop != "labels":
            f.create_dataset("labels", data=np.asarray(labels))
    return path


def test_rate_code_is_seeded_and_follows_the_rate():
    x = jnp.array([[0.0, 0.25, 1.0]])
    key = jax.random.key(0)
    s = data.rate_code(x, 4000, key=key)
    assert s.shape == (4000, 1, 3) and s.dtype == jnp.float32
    np.testing.assert_allclose(s.mean(0)[0], [0.0, 0.25, 1.0], atol=0.02)
    np.testing.assert_array_equal(s, data.rate_code(x, 4000, key=key))
    assert not np.array_equal(s, data.rate_code(x, 4000, key=jax.random.key(1)))


def test_latency_code_fires_once_bright_first():
    x = jnp.array([1.0, 0.5, 0.0, 0.2])
    s = data.latency_code(x, 5)
    assert s.shape == (5, 4)
    # 1 -> step 0; 0.5 -> step 2; 0 stays silent; 0.2 -> round(0.8 * 4) = 3
    np.testing.assert_array_equal(
        np.argmax(np.asarray(s), axis=0)[[0, 1, 3]], [0, 2, 3]
    )
    np.testing.assert_array_equal(s.sum(0), [1, 1, 0, 1])


def test_shd_binning(tmp_path):
    times = [[0.0, 0.05, 0.1, 1.39, 1.5], [], [0.75]]
    units = [[0, 0, 699, 3, 5], [], [10]]
    path = write_shd(tmp_path / "shd.h5", times, units, [3, 0, 7])
    ds = data.load_shd(path, num_steps=14, duration=1.4)
    assert len(ds) == 3 and ds.num_steps == 14
    assert ds.packed.dtype == np.uint8 and ds.packed.shape == (3, 14, 88)
    x = ds.dense([0, 1, 2])
    assert x.shape == (14, 3, 700) and x.dtype == np.float32
    # two spikes of unit 0 in bin 0 give one bit; 1.5 s is past the duration
    assert x[0, 0, 0] == 1 and x[1, 0, 699] == 1 and x[13, 0, 3] == 1
    assert x[:, 0].sum() == 3 and x[:, 0, 5].sum() == 0
    assert x[:, 1].sum() == 0  # the empty sample
    assert x[7, 2, 10] == 1
    np.testing.assert_array_equal(ds.labels, [3, 0, 7])


def test_shd_batches(tmp_path):
    n = 10
    path = write_shd(
        tmp_path / "shd.h5",
        [[0.01 * i] for i in range(n)],
        [[i] for i in range(n)],
        list(range(n)),
    )
    ds = data.load_shd(path, num_steps=5)
    full = list(ds.batches(4, seed=1))
    assert [x.shape for x, _ in full] == [(5, 4, 700)] * 2
    kept = list(ds.batches(4, seed=1, drop_last=False))
    assert [len(y) for _, y in kept] == [4, 4, 2]
    assert sorted(np.concatenate([y for _, y in kept]).tolist()) == list(range(n))
    again = [y.tolist() for _, y in ds.batches(4, seed=1)]
    assert again == [y.tolist() for _, y in full]
    assert [y.tolist() for _, y in ds.batches(4, shuffle=False)] == [
        [0, 1, 2, 3],
        [4, 5, 6, 7],
    ]
    for x, y in ds.batches(3, shuffle=False):
        for j, label in enumerate(y):
            assert x[:, j, label].sum() == 1  # unit i fired in sample i


@pytest.mark.parametrize(
    ("times", "units", "labels", "drop", "match"),
    [
        (
            [[0.1]],
            [[700]],
            [0],
            None,
            r"sample 0 has unit index 700, outside \[0, 700\)",
        ),
        (
            [[0.1, 0.2]],
            [[1]],
            [0],
            None,
            r"sample 0 has 2 spike times but 1 unit indices",
        ),
        ([[-0.1]], [[1]], [0], None, r"sample 0 has negative or non-finite times"),
        ([[0.1]], [[1]], [0, 1], None, r"1 spike-time lists, 1 unit lists, 2 labels"),
        ([[0.1]], [[1]], [0.5], None, r"`labels` must be non-negative integers"),
        ([[0.1]], [[1]], [0], "labels", r"lacks \['labels'\]"),
    ],
    ids=[
        "unknown-unit",
        "length-mismatch",
        "negative-time",
        "label-count",
        "float-labels",
        "missing",
    ],
)
def test_corrupt_files_get_clear_errors(tmp_path, times, units, labels, drop, match):
    path = write_shd(tmp_path / "bad.h5", times, units, labels, drop=drop)
    with pytest.raises(ValueError, match=match):
        data.load_shd(path)


def test_not_an_hdf5_file(tmp_path):
    path = tmp_path / "x.h5"
    path.write_text("hello")
    with pytest.raises(ValueError, match=r"is not a readable HDF5 file"):
        data.load_shd(path)


# spyx 1.0's pure helpers


def test_shift_augment_rolls_each_axis_within_range():
    augment = data.shift_augment(max_shift=3, axes=(0, -1))
    grid = jnp.arange(6.0)[:, None] * 10 + jnp.arange(8.0)  # (i, j) holds 10i + j
    seen = set()
    for seed in range(40):
        out = np.asarray(augment(grid, jax.random.key(seed)))
        i, j = np.argwhere(out == 0.0)[0]  # where element (0, 0) went
        shift = (int(i), int(j))
        np.testing.assert_array_equal(out, np.roll(grid, shift, (0, 1)))
        seen.add((((i + 3) % 6) - 3, ((j + 4) % 8) - 4))
    assert all(-3 <= a < 3 and -3 <= b < 3 for a, b in seen)
    assert len(seen) > 10, "the shifts should vary with the key"
    with pytest.raises(ValueError, match=r"`max_shift` must be >= 1"):
        data.shift_augment(0)


@pytest.mark.parametrize("n", [12, 14])
def test_shuffler_permutes_pairs_into_batches_and_drops_the_rest(n):
    x = jnp.arange(n * 2.0).reshape(n, 2)
    y = jnp.arange(n)
    shuffle = data.shuffler((x, y), batch_size=4)
    xb, yb = shuffle((x, y), jax.random.key(0))
    assert xb.shape == (3, 4, 2) and yb.shape == (3, 4)
    flat = np.asarray(yb).reshape(-1)
    assert len(set(flat)) == 12 and set(flat) <= set(range(n))
    np.testing.assert_array_equal(np.asarray(xb).reshape(-1, 2), np.asarray(x)[flat])
    other = np.asarray(shuffle((x, y), jax.random.key(1))[1]).reshape(-1)
    assert not np.array_equal(flat, other)
    with pytest.raises(ValueError, match=r"`batch_size` must be between 1 and"):
        data.shuffler((x, y), batch_size=n + 1)


def test_angle_code_one_hot_over_linspace_bins():
    encode = data.angle_code(4, 0.0, 3.0)  # bin edges 0, 1, 2, 3
    out = encode(jnp.array([-1.0, 0.0, 1.5, 2.99, 3.0, 7.0]))
    np.testing.assert_array_equal(
        out,
        [
            [1, 0, 0, 0],  # below min_val: the first neuron
            [1, 0, 0, 0],  # 0 <= v < 1
            [0, 1, 0, 0],
            [0, 0, 1, 0],
            [0, 0, 0, 1],  # at or above max_val: the last, as in spyx 1.0
            [0, 0, 0, 1],
        ],
    )
    assert encode(jnp.zeros((2, 3))).shape == (2, 3, 4)


# ------------------------------------------------------- spyx 1.0's forms


def test_encoders_in_spyx_1_form():
    """rate_code(num_steps, max_r) and latency_code(num_steps, threshold)
    return 1.0's jitted encoders (uint8); the time-major forms stay."""
    encode = data.rate_code(50, 1.0)
    spikes = encode(jnp.full((3, 1, 4), 0.5), jax.random.key(0))
    assert spikes.shape == (3, 50, 4) and spikes.dtype == jnp.uint8
    np.testing.assert_allclose(float(spikes.mean()), 0.5, atol=0.08)
    late = data.latency_code(num_steps=8, threshold=-1.0)(jnp.array([1.0, 0.5, 0.0]))
    assert late.dtype == jnp.uint8
    np.testing.assert_array_equal(np.argmax(late, axis=0), [0, 4, 7])
    quiet = data.latency_code(8, 0.2)(jnp.array([0.1, 0.3]))
    np.testing.assert_array_equal(quiet.sum(0), [0, 1])


def test_grain_record_transforms():
    pytest.importorskip("grain")
    rate = data.RateCode(sample_T=10, max_r=1.0).map({"obs": np.array([[1.0, 0.0]])})
    bits = np.unpackbits(rate["obs"], axis=0)[:10]
    assert rate["obs"].shape == (2, 1, 2) and rate["obs"].dtype == np.uint8
    np.testing.assert_array_equal(bits.sum(0), [[10, 0]])
    late = data.LatencyCode(8, threshold=-1.0).map({"obs": np.array([[1.0, 0.0]])})
    bits = np.unpackbits(late["obs"], axis=0)
    assert bits[0, 0, 0] == 1 and bits[7, 0, 1] == 1 and bits.sum() == 2
    angle = data.AngleCode(8, 0.0, 1.0).map({"obs": np.array([0.0, 0.5, 1.0])})
    np.testing.assert_array_equal(np.argmax(angle["obs"], -1), [0, 3, 7])
    np.testing.assert_array_equal(
        angle["obs"], data.angle_code(8, 0.0, 1.0)(jnp.array([0.0, 0.5, 1.0]))
    )
    grid = np.arange(16.0).reshape(4, 4)
    shifted = data.ShiftAugment(max_shift=2, axes=(0, 1)).map({"obs": grid.copy()})
    rolls = [
        np.roll(grid, (a, b), axis=(0, 1)) for a in range(-2, 2) for b in range(-2, 2)
    ]
    assert any(np.array_equal(shifted["obs"], r) for r in rolls)  # a roll in range


def _shd_files(root, n_train, n_test, rng):
    """Tonic's SHD folder, ``root/SHD``: the HDF5 files in the SHD layout and
    the (here empty) archives Tonic checks for before it would download."""
    folder = root / "SHD"
    folder.mkdir(parents=True)
    content = {}
    for split, n in (("train", n_train), ("test", n_test)):
        times = [np.sort(rng.uniform(0, 1.2, rng.integers(0, 30))) for _ in range(n)]
        times[0] = np.append(times[0], np.nan)  # SHD has a few non-finite times
        units = [rng.integers(0, 700, len(t)) for t in times]
        labels = rng.integers(0, 20, n)
        write_shd(folder / f"shd_{split}.h5", times, units, labels, extra=True)
        (folder / f"shd_{split}.h5.zip").write_bytes(b"")
        content[split] = (times, units, labels)
    return content


def _shd_frames(times, units, T, C):
    frames = np.zeros((T, C), np.uint8)
    for t, u in zip(times, units, strict=True):
        if np.isfinite(t) and t * T < T:
            frames[int(np.floor(t * 1e6 * 1e-6 * T)), int(u * C / 700)] = 1
    return frames


def test_shd_loader_reads_tonic_files(tmp_path):
    pytest.importorskip("tonic")
    rng = np.random.default_rng(0)
    content = _shd_files(tmp_path, 10, 6, rng)
    T, C, B = 16, 70, 3
    loader = data.SHD_loader(
        batch_size=B, sample_T=T, channels=C, download_dir=str(tmp_path), worker_count=0
    )
    assert loader.obs_shape == (C,) and loader.act_shape == (20,)
    times, units, labels = content["test"]
    batches = list(loader.test_epoch())
    assert len(batches) == 2  # 6 test examples in batches of 3
    obs, y = batches[0]
    assert obs.shape == (B, (T + 7) // 8, C) and obs.dtype == np.uint8
    np.testing.assert_array_equal(y, labels[:B])
    frames = np.unpackbits(np.asarray(obs), axis=1)[:, :T]
    for i in range(B):
        np.testing.assert_array_equal(frames[i], _shd_frames(times[i], units[i], T, C))
    # an epoch of training batches: shuffled, each example at most once
    seen = np.concatenate([np.asarray(b.labels) for b in loader.train_epoch()])
    assert len(seen) == 9
    X, Y = loader.prestage("test")
    assert X.shape == (2, B, (T + 7) // 8, C) and Y.shape == (2, B)
    np.testing.assert_array_equal(np.asarray(X[0]), np.asarray(obs))


def _nmnist_files(root, per_split):
    """Tonic's NMNIST folder: ``Train`` / ``Test`` with one folder per digit
    of ``.bin`` recordings (40-bit events: x, y, polarity and a 23-bit time
    in microseconds), and the archives Tonic checks for. Tonic wants at least
    10,000 recordings per split before it trusts a folder."""
    folder = root / "NMNIST"
    for split, archive in (("Train", "train.zip"), ("Test", "test.zip")):
        (folder / archive).parent.mkdir(parents=True, exist_ok=True)
        (folder / archive).write_bytes(b"")
        for i in range(per_split):
            digit = i % 10
            path = folder / split / str(digit) / f"{i:05d}.bin"
            path.parent.mkdir(parents=True, exist_ok=True)
            # an ON event at (x=digit, y=2) first, then OFF events
            events = [(digit, 2, 1, 1000), (33, 33, 0, 150_000), (0, 0, 0, 300_000)]
            raw = bytearray()
            for x, y, p, t in events:
                raw += bytes([x, y, (p << 7) | (t >> 16), (t >> 8) & 255, t & 255])
            path.write_bytes(bytes(raw))


@pytest.mark.slow
def test_nmnist_loader_reads_tonic_files(tmp_path):
    pytest.importorskip("tonic")
    _nmnist_files(tmp_path, 10_000)
    T, B = 10, 4
    loader = data.NMNIST_loader(
        batch_size=B, sample_T=T, download_dir=str(tmp_path), worker_count=0
    )
    assert loader.obs_shape == (2, 34, 34)
    obs, y = next(loader.test_epoch())
    assert obs.shape == (B, (T + 7) // 8, 2, 34, 34) and obs.dtype == np.uint8
    frames = np.unpackbits(np.asarray(obs), axis=1)[:, :T]
    for i in range(B):
        digit = int(y[i])
        on = np.argwhere(frames[i, :, 1])  # polarity 1 (ON) events
        assert on.tolist() == [[0, 2, digit]], on  # frame 0, y = 2, x = digit
        assert frames[i, :, 0, 33, 33].sum() == 1  # the OFF event mid-way


def test_loaders_need_the_data_extra_and_say_so(monkeypatch):
    import sys

    monkeypatch.delitem(data.__dict__, "SHD_loader", raising=False)
    monkeypatch.setitem(sys.modules, "tonic", None)  # as if not installed
    monkeypatch.delitem(sys.modules, "spyx.data._loaders", raising=False)
    with pytest.raises(ImportError, match=r"spyx.data.SHD_loader needs the optional"):
        data.SHD_loader()

"""Encoders and the SHD loader, on small files written in the SHD layout."""

import h5py
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import spyx.data as data


def write_shd(path, times, units, labels, *, drop=None):
    with h5py.File(path, "w") as f:
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
    out = encode(jnp.array([-1.0, 0.0, 1.5, 2.99, 3.0]))
    np.testing.assert_array_equal(
        out,
        [
            [1, 0, 0, 0],  # below min_val: neuron 0
            [0, 1, 0, 0],  # 0 <= v < 1
            [0, 0, 1, 0],
            [0, 0, 0, 1],
            [0, 0, 0, 0],  # at or above max_val: none, as in spyx 1.0
        ],
    )
    assert encode(jnp.zeros((2, 3))).shape == (2, 3, 4)

//! Memory bombs: small streams that declare or reuse far more data than they hold. Each must
//! end in an error naming what was refused, with the process's peak memory (VmHWM, measured
//! here) staying near the input's size.

use proptest::prelude::*;
use stylegan_pickle::torch::{self, DType, Storage};
use stylegan_pickle::{unpickle, Budget, Error, Value};

/// How far this process's peak resident memory rose above its resident memory at the start
/// while `f` ran (KiB; `VmHWM` reset through `clear_refs` 5), and `f`'s result. Memory freed
/// earlier but kept by the allocator is in the starting figure, not in the rise.
fn peak_kib<T>(f: impl FnOnce() -> T) -> (u64, T) {
    let field = |name: &str| -> u64 {
        std::fs::read_to_string("/proc/self/status")
            .unwrap_or_default()
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    };
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    let before = field("VmRSS:");
    let out = f();
    let kib = field("VmHWM:").saturating_sub(before);
    (kib, out)
}

fn global(b: &mut Vec<u8>, module: &str, name: &str) {
    b.push(b'c');
    b.extend_from_slice(format!("{module}\n{name}\n").as_bytes());
}

fn int(b: &mut Vec<u8>, i: i64) {
    b.push(0x8a);
    b.push(8);
    b.extend_from_slice(&i.to_le_bytes());
}

fn str_(b: &mut Vec<u8>, s: &str) {
    b.push(b'X');
    b.extend_from_slice(&(s.len() as u32).to_le_bytes());
    b.extend_from_slice(s.as_bytes());
}

/// `_rebuild_tensor_v2(pid('storage', FloatStorage, '0', 'cpu', numel), offset, shape, stride)`.
fn tensor_pickle(numel: i64, offset: i64, shape: &[i64], stride: &[i64]) -> Vec<u8> {
    let mut b = vec![0x80, 2];
    global(&mut b, "torch._utils", "_rebuild_tensor_v2");
    b.push(b'(');
    b.push(b'(');
    str_(&mut b, "storage");
    global(&mut b, "torch", "FloatStorage");
    str_(&mut b, "0");
    str_(&mut b, "cpu");
    int(&mut b, numel);
    b.push(b't');
    b.push(b'Q');
    int(&mut b, offset);
    b.push(b'(');
    shape.iter().for_each(|&d| int(&mut b, d));
    b.push(b't');
    b.push(b'(');
    stride.iter().for_each(|&d| int(&mut b, d));
    b.push(b't');
    b.push(0x89);
    b.push(b't');
    b.push(b'R');
    b.push(b'.');
    b
}

fn read_tensor(pkl: &[u8], storage_elems: usize) -> stylegan_pickle::Result<torch::Tensor> {
    let (v, _) = unpickle(pkl)?;
    let storage = Storage {
        dtype: DType::F32,
        bytes: std::rc::Rc::new(vec![0u8; storage_elems * 4]),
    };
    torch::tensor(&v, &|_| Ok(storage.clone()))
}

#[test]
fn views_larger_than_their_storage_are_refused_before_allocating() {
    // The cases: stride 0 over one element, as [2^18, 2^18] (256 GB as f32) and as
    // [32768, 16384] (2 GiB).
    for shape in [[1i64 << 18, 1 << 18], [32768, 16384]] {
        let pkl = tensor_pickle(1, 0, &shape, &[0, 0]);
        let (kib, r) = peak_kib(|| read_tensor(&pkl, 1));
        let e = r.unwrap_err().to_string();
        assert!(
            e.contains(&format!("{shape:?}"))
                && e.contains("stride [0, 0]")
                && e.contains("only 1"),
            "{e}"
        );
        assert!(kib < 400 << 10, "peak {kib} KiB reading {shape:?}");
    }
    // An overlapping view no bigger than its storage is still read (torch allows it).
    let t = read_tensor(&tensor_pickle(4, 0, &[2, 2], &[0, 1]), 4).unwrap();
    assert_eq!(t.data.len(), 4);
    // A view past the end of its storage is refused too.
    let e = read_tensor(&tensor_pickle(4, 1, &[4], &[1]), 4)
        .unwrap_err()
        .to_string();
    assert!(e.contains("exceeds its storage of 4 elements"), "{e}");
}

/// A stream whose `n` REDUCEs each reuse one memoized `k`-item argument tuple, keeping every
/// object alive in a list: 6 bytes of input per object, `16 k` bytes of copies each.
fn reduce_bomb(k: usize, n: usize) -> Vec<u8> {
    let mut b = vec![0x80, 2, b']', b'q', 0]; // memo 0: the result list
    global(&mut b, "builtins", "object");
    b.extend_from_slice(b"q\x010"); // memo 1: the callable
    b.push(b'(');
    b.extend(std::iter::repeat_n(b'N', k));
    b.extend_from_slice(b"tq\x020"); // memo 2: the argument tuple
    for _ in 0..n {
        b.extend_from_slice(b"h\x01h\x02Ra"); // list.append(object(*args))
    }
    b.push(b'.');
    b
}

#[test]
fn reused_memo_values_cannot_multiply_memory() {
    // 20,000 REDUCEs over one memoized 50,000-item tuple: 160 KB of input that the old
    // unpickler turned into 16 GB of copied argument lists.
    let pkl = reduce_bomb(50_000, 20_000);
    let (kib, r) = peak_kib(|| unpickle(&pkl).map(|_| ()));
    match r {
        Err(Error::Limit(msg)) => assert!(msg.contains("REDUCE"), "{msg}"),
        other => panic!("expected a limit error, got {other:?}"),
    }
    assert!(kib < 400 << 10, "peak {kib} KiB");
    // `_codecs.encode` of one memoized 1 MB string, 10,000 times: 10 GB before.
    let mut b = vec![0x80, 2, b']', b'q', 0];
    global(&mut b, "_codecs", "encode");
    b.extend_from_slice(b"q\x010");
    str_(&mut b, &"x".repeat(1 << 20));
    str_(&mut b, "latin1");
    b.extend_from_slice(b"\x86q\x020");
    for _ in 0..10_000 {
        b.extend_from_slice(b"h\x01h\x02Ra");
    }
    b.push(b'.');
    let (kib, r) = peak_kib(|| unpickle(&b).map(|_| ()));
    assert!(matches!(r, Err(Error::Limit(_))), "{r:?}");
    assert!(kib < 400 << 10, "peak {kib} KiB");
    // Real-sized uses stay far inside the allowance.
    let ok = reduce_bomb(8, 1000);
    unpickle(&ok).unwrap();
}

#[test]
fn a_shared_budget_bounds_many_views_of_one_storage() {
    let pkl = tensor_pickle(1 << 20, 0, &[1 << 20], &[1]);
    let (v, _) = unpickle(&pkl).unwrap();
    let storage = Storage {
        dtype: DType::F32,
        bytes: std::rc::Rc::new(vec![0u8; 4 << 20]),
    };
    // 4 MiB per view: the 10th view of the one storage exceeds a 36 MiB budget.
    let budget = Budget::new(36 << 20);
    let mut read = 0;
    let err = loop {
        match torch::tensor_within(&v, &|_| Ok(storage.clone()), &budget) {
            Ok(_) => read += 1,
            Err(e) => break e.to_string(),
        }
        assert!(read < 100, "the budget never ran out");
    };
    assert_eq!(read, 9);
    assert!(
        err.contains("[1048576]") && err.contains("may only take"),
        "{err}"
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]
    /// Arbitrary views of arbitrary small storages: refused, or at most the storage's size.
    #[test]
    fn arbitrary_views_never_exceed_their_storage(
        storage_elems in 0usize..64,
        offset in 0i64..1 << 40,
        dims in proptest::collection::vec((0i64..1 << 24, 0i64..1 << 24), 0..5),
    ) {
        let shape: Vec<i64> = dims.iter().map(|d| d.0).collect();
        let stride: Vec<i64> = dims.iter().map(|d| d.1).collect();
        let pkl = tensor_pickle(storage_elems as i64, offset % 128, &shape, &stride);
        let (kib, r) = peak_kib(|| read_tensor(&pkl, storage_elems));
        if let Ok(t) = r {
            prop_assert!(t.data.len() <= storage_elems.max(1));
        }
        prop_assert!(kib < 400 << 10, "peak {} KiB", kib);
    }
}

#[test]
fn legacy_storages_are_charged_to_the_budget() {
    // `_load_from_bytes` of one memoized legacy stream, reused: each use copies its storage.
    let mut inner = vec![0x80, 2, 0x8a, 10];
    inner.extend_from_slice(&[0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19]);
    inner.push(b'.');
    inner.extend_from_slice(&[0x80, 2, b'M', 0xe9, 0x03, b'.']); // protocol 1001
    inner.extend_from_slice(&[0x80, 2, b'N', b'.']); // sys info
    let n = 1usize << 20;
    let mut pid = vec![0x80, 2, b'('];
    str_(&mut pid, "storage");
    global(&mut pid, "torch", "FloatStorage");
    str_(&mut pid, "0");
    str_(&mut pid, "cpu");
    int(&mut pid, n as i64);
    pid.extend_from_slice(b"tQ.");
    inner.extend_from_slice(&pid);
    inner.extend_from_slice(&[0x80, 2, b'(']);
    str_(&mut inner, "0");
    inner.extend_from_slice(b"l.");
    inner.extend_from_slice(&(n as u64).to_le_bytes());
    inner.extend(std::iter::repeat_n(0u8, n * 4));
    let mut b = vec![0x80, 2];
    global(&mut b, "torch.storage", "_load_from_bytes");
    b.push(b'(');
    b.push(b'B');
    b.extend_from_slice(&(inner.len() as u32).to_le_bytes());
    b.extend_from_slice(&inner);
    b.extend_from_slice(b"tR.");
    let (storage, _) = unpickle(&b).unwrap();
    assert!(matches!(storage, Value::Object(_)));
    // A tensor over it, read with the budget of its own stream size: one full read fits
    // (4 MiB copy + 4 MiB f32), 64 of them do not.
    let mut t = vec![0x80, 2];
    global(&mut t, "torch._utils", "_rebuild_tensor_v2");
    t.extend_from_slice(b"(N");
    int(&mut t, 0);
    t.push(b'(');
    int(&mut t, n as i64);
    t.extend_from_slice(b"t(");
    int(&mut t, 1);
    t.extend_from_slice(b"t\x89tR.");
    let (tv, _) = unpickle(&t).unwrap();
    // Put the storage object in as the first argument.
    if let Value::Object(o) = &tv {
        o.borrow_mut().args[0] = storage;
    }
    let budget = Budget::for_input(b.len());
    let mut ok = 0;
    let res = (0..64).try_for_each(|_| {
        torch::tensor_within(&tv, &|_| unreachable!(), &budget).map(|t| {
            assert_eq!(t.data.len(), n);
            ok += 1;
        })
    });
    assert!(
        res.is_err(),
        "64 full copies of one stored megafloat fit the budget"
    );
    assert!((1..64).contains(&ok), "{ok}");
}

//! The unpickler against streams written by CPython's own `pickle` (protocols 2-5), and
//! arbitrary bytes: always an error, never a panic.

use proptest::prelude::*;
use stylegan_pickle::{unpickle, Limits, Unpickler, Value};

/// `pickle.dumps(obj, protocol=p)` in CPython 3.11 for
/// `{'a': [1, 2, 3.5, None, True], 'b': (b'xy', 'h\u00e9llo'), 'c': OrderedDict(k=1), 'd': {1, 2},
///   'big': 2**70, 'neg': -5, 'e': dnnlib.util.EasyDict(x=1), 's1': shared, 's2': shared,
///   'i': 70000, 'n': -70000}` (`shared` one memoized string).
const VECTORS: &[(u8, &str)] = &[
    (2, "80027d71002858010000006171015d7102284b014b0247400c0000000000004e88655801000000627103635f636f646563730a656e636f64650a710458020000007879710558060000006c6174696e317106867107527108580600000068c3a96c6c6f710986710a580100000063710b63636f6c6c656374696f6e730a4f726465726564446963740a710c2952710d58010000006b710e4b0173580100000064710f635f5f6275696c74696e5f5f0a7365740a71105d7111284b014b0265857112527113580300000062696771148a0900000000000000004058030000006e656771154afbffffff580100000065711663646e6e6c69622e7574696c0a45617379446963740a71172981711858010000007871194b017358020000007331711a580d00000073686172656420737472696e67711b58020000007332711c681b580100000069711d4a7011010058010000006e711e4a90eefeff752e"),
    (3, "80037d71002858010000006171015d7102284b014b0247400c0000000000004e88655801000000627103430278797104580600000068c3a96c6c6f7105867106580100000063710763636f6c6c656374696f6e730a4f726465726564446963740a71082952710958010000006b710a4b0173580100000064710b636275696c74696e730a7365740a710c5d710d284b014b026585710e52710f580300000062696771108a0900000000000000004058030000006e656771114afbffffff580100000065711263646e6e6c69622e7574696c0a45617379446963740a71132981711458010000007871154b0173580200000073317116580d00000073686172656420737472696e677117580200000073327118681758010000006971194a7011010058010000006e711a4a90eefeff752e"),
    (4, "800495db000000000000007d94288c0161945d94284b014b0247400c0000000000004e88658c01629443027879948c0668c3a96c6c6f9486948c0163948c0b636f6c6c656374696f6e73948c0b4f726465726564446963749493942952948c016b944b01738c0164948f94284b014b02908c03626967948a090000000000000000408c036e6567944afbffffff8c0165948c0b646e6e6c69622e7574696c948c0845617379446963749493942981948c0178944b01738c027331948c0d73686172656420737472696e67948c0273329468188c0169944a701101008c016e944a90eefeff752e"),
    (5, "800595db000000000000007d94288c0161945d94284b014b0247400c0000000000004e88658c01629443027879948c0668c3a96c6c6f9486948c0163948c0b636f6c6c656374696f6e73948c0b4f726465726564446963749493942952948c016b944b01738c0164948f94284b014b02908c03626967948a090000000000000000408c036e6567944afbffffff8c0165948c0b646e6e6c69622e7574696c948c0845617379446963749493942981948c0178944b01738c027331948c0d73686172656420737472696e67948c0273329468188c0169944a701101008c016e944a90eefeff752e"),
];

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

#[test]
fn reads_cpython_pickles_of_every_protocol() {
    for (proto, h) in VECTORS {
        let bytes = hex(h);
        let (v, used) = unpickle(&bytes).unwrap_or_else(|e| panic!("protocol {proto}: {e}"));
        assert_eq!(used, bytes.len(), "protocol {proto}: STOP is the last byte");
        let a = v.get("a").unwrap().as_seq().unwrap();
        assert_eq!(a[0].as_int(), Some(1));
        assert_eq!(a[2].as_float(), Some(3.5));
        assert!(a[3].is_none());
        assert!(matches!(a[4], Value::Bool(true)));
        let b = v.get("b").unwrap().as_seq().unwrap();
        assert_eq!(
            b[0].as_bytes().unwrap().as_slice(),
            b"xy",
            "protocol {proto}"
        );
        assert_eq!(b[1].as_str(), Some("h\u{e9}llo"));
        assert_eq!(
            v.get("c").unwrap().get("k").and_then(|k| k.as_int()),
            Some(1),
            "protocol {proto}: OrderedDict"
        );
        assert!(matches!(v.get("big"), Some(Value::BigInt(_))));
        assert_eq!(v.get("neg").unwrap().as_int(), Some(-5));
        assert_eq!(v.get("i").unwrap().as_int(), Some(70000));
        assert_eq!(v.get("n").unwrap().as_int(), Some(-70000));
        let e = v.get("e").unwrap();
        assert_eq!(
            e.object_class(),
            Some(("dnnlib.util".into(), "EasyDict".into()))
        );
        assert_eq!(e.get("x").and_then(|x| x.as_int()), Some(1));
        assert_eq!(v.get("s1").unwrap().as_str(), v.get("s2").unwrap().as_str());
    }
}

#[test]
fn allow_list_refuses_other_globals_by_name() {
    let bytes = hex(VECTORS[2].1);
    let limits = Limits {
        allow: Some(vec![("collections".into(), "OrderedDict".into())]),
        ..Default::default()
    };
    let err = Unpickler::new(&bytes, limits)
        .load()
        .unwrap_err()
        .to_string();
    assert!(err.contains("dnnlib.util.EasyDict"), "{err}");
}

#[test]
fn hostile_inputs_are_errors() {
    // A 4 GiB string length in a 10-byte file, a huge memo index, a deep MARK chain, truncation.
    for bad in [
        &b"\x80\x04\x8d\xff\xff\xff\xff\x00\x00\x00\x00"[..],
        &b"\x80\x04N\x94j\xff\xff\xff\xff."[..],
        &b"\x80\x02((((((((((((((((("[..],
        &b"\x80\x02cos\nsystem\n"[..],
        &b"\x80\x02}q\x00(X\x01\x00\x00\x00au"[..],
        &b""[..],
    ] {
        assert!(unpickle(bad).is_err(), "{bad:?}");
    }
    // `os.system` is only ever a name: REDUCE builds an inert object, nothing runs.
    let (v, _) = unpickle(b"\x80\x02cos\nsystem\nX\x04\x00\x00\x00echoq\x00\x85R.").unwrap();
    assert_eq!(v.object_class(), Some(("os".into(), "system".into())));
}

/// Containers nested 300,000 deep through the memo (12 bytes a level, constant VM stack):
/// building and dropping the result must not overflow the stack.
#[test]
fn deep_nesting_through_the_memo_does_not_overflow() {
    let mut b = b"\x80\x02]q\x00q\x020".to_vec(); // root list, memo 0 = memo 2 = root
    for _ in 0..300_000 {
        // current (memo 0) gets a new list X (memo 1) appended; X becomes current.
        b.extend_from_slice(b"h\x00]q\x01a0h\x01q\x000");
    }
    b.extend_from_slice(b"h\x02.");
    let (v, _) =
        std::thread::spawn(move || unpickle(&b).map(|(v, n)| (v.as_seq().map(|s| s.len()), n)))
            .join()
            .expect("no stack overflow")
            .unwrap();
    assert_eq!(v, Some(1));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let _ = unpickle(&bytes);
    }

    #[test]
    fn mutated_real_pickles_never_panic(idx in 0usize..4, flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8), cut in any::<usize>()) {
        let mut bytes = hex(VECTORS[idx].1);
        for (pos, val) in flips {
            let n = bytes.len();
            bytes[pos % n] = val;
        }
        let cut = cut % (bytes.len() + 1);
        let _ = unpickle(&bytes[..cut]);
        let _ = unpickle(&bytes);
    }
}

//! The `.npy` reader and writer of the examples (examples/common/npy.rs): byte-exact headers as
//! numpy 1.26 writes them, round trips, and the errors for files it cannot read.

#[path = "../examples/common/npy.rs"]
mod npy;

use npy::{from_bytes, to_bytes, Array, Data, NpyError};

/// `np.save(f, np.array([[1, 2, 3], [4, 5, 6]], dtype=np.float32))` with numpy 1.26: the 128-byte
/// header (text, 20 spaces numpy leaves for the first axis to grow, 38 spaces of padding, `\n`).
const NUMPY_2X3_F32_HEADER: &[u8] = b"\x93NUMPY\x01\x00v\x00{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }                                                          \n";
/// The six values 1..=6 as little-endian f32.
const NUMPY_2X3_F32_DATA: &[u8] = b"\x00\x00\x80\x3f\x00\x00\x00\x40\x00\x00\x40\x40\x00\x00\x80\x40\x00\x00\xa0\x40\x00\x00\xc0\x40";

/// `np.save(f, np.array([0.5, -1.0, 3.25]))` with numpy 1.26.
const NUMPY_3_F64_HEADER: &[u8] = b"\x93NUMPY\x01\x00v\x00{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }                                                            \n";
const NUMPY_3_F64_DATA: &[u8] = b"\x00\x00\x00\x00\x00\x00\xe0\x3f\x00\x00\x00\x00\x00\x00\xf0\xbf\x00\x00\x00\x00\x00\x00\x0a\x40";

/// `np.save(f, np.zeros((0, 7) + (1,) * 11 + (100,)))` with numpy 1.26: the header text ends exactly
/// on a 64-byte boundary, where numpy pads with a full 64 spaces (182 = 0xb6 bytes after the prefix).
const NUMPY_ALIGNED_HEADER: &[u8] = b"\x93NUMPY\x01\x00\xb6\x00{'descr': '<f8', 'fortran_order': False, 'shape': (0, 7, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 100), }                                                                                    \n";

fn cat(a: &[u8], b: &[u8]) -> Vec<u8> {
    [a, b].concat()
}

fn format_message(r: Result<Array, NpyError>) -> String {
    match r {
        Err(NpyError::Format(m)) => m,
        other => panic!("expected a format error, got {other:?}"),
    }
}

/// `bytes` with the dict text of its v1.0 header replaced by `text` (padded to the same length).
fn with_header_text(text: &str) -> Vec<u8> {
    let mut v = NUMPY_3_F64_HEADER.to_vec();
    assert!(text.len() < 117);
    let mut padded = text.as_bytes().to_vec();
    padded.resize(117, b' ');
    v[10..127].copy_from_slice(&padded);
    cat(&v, NUMPY_3_F64_DATA)
}

#[test]
fn numpy_headers_are_the_documented_bytes() {
    // Independent checks of the literals themselves: 128 bytes, length field 118, data aligned.
    for h in [NUMPY_2X3_F32_HEADER, NUMPY_3_F64_HEADER] {
        assert_eq!(h.len(), 128);
        assert_eq!(&h[..8], b"\x93NUMPY\x01\x00");
        assert_eq!(u16::from_le_bytes([h[8], h[9]]), 118);
        assert_eq!(h[127], b'\n');
    }
    assert_eq!(NUMPY_ALIGNED_HEADER.len(), 192);
}

#[test]
fn writes_what_numpy_writes() {
    let f32_values = [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0];
    assert_eq!(
        to_bytes(&[2, 3], &f32_values).unwrap(),
        cat(NUMPY_2X3_F32_HEADER, NUMPY_2X3_F32_DATA)
    );
    assert_eq!(
        to_bytes(&[3], &[0.5f64, -1.0, 3.25]).unwrap(),
        cat(NUMPY_3_F64_HEADER, NUMPY_3_F64_DATA)
    );
    let shape = [0, 7, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 100];
    assert_eq!(
        to_bytes::<f64>(&shape, &[]).unwrap(),
        NUMPY_ALIGNED_HEADER.to_vec()
    );
}

#[test]
fn reads_what_numpy_writes() {
    let a = from_bytes(&cat(NUMPY_2X3_F32_HEADER, NUMPY_2X3_F32_DATA)).unwrap();
    assert_eq!(a.shape, vec![2, 3]);
    assert_eq!(a.data, Data::F32(vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]));
    assert_eq!(a.data.dtype(), "float32");

    let a = from_bytes(&cat(NUMPY_3_F64_HEADER, NUMPY_3_F64_DATA)).unwrap();
    assert_eq!(a.shape, vec![3]);
    assert_eq!(a.data, Data::F64(vec![0.5, -1.0, 3.25]));

    let a = from_bytes(NUMPY_ALIGNED_HEADER).unwrap();
    assert_eq!(a.shape, vec![0, 7, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 100]);
    assert!(a.data.is_empty());
}

#[test]
fn reads_version_2_and_other_spellings() {
    // np.lib.format.write_array(f, np.array([1.5, 2.5]), version=(2, 0)): a 4-byte length.
    let mut v2 = b"\x93NUMPY\x02\x00\x74\x00\x00\x00".to_vec();
    let mut text = b"{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }".to_vec();
    text.resize(115, b' ');
    text.push(b'\n');
    v2.extend_from_slice(&text);
    assert_eq!(v2.len() % 64, 0);
    v2.extend_from_slice(&1.5f64.to_le_bytes());
    v2.extend_from_slice(&2.5f64.to_le_bytes());
    let a = from_bytes(&v2).unwrap();
    assert_eq!(a.shape, vec![2]);
    assert_eq!(a.data, Data::F64(vec![1.5, 2.5]));

    // Other key order, double quotes, no trailing comma, Python 2 long integers.
    let a = from_bytes(&with_header_text(
        "{\"shape\": (3L,), \"fortran_order\": False, \"descr\": \"<f8\"}",
    ))
    .unwrap();
    assert_eq!(a.shape, vec![3]);
    assert_eq!(a.data.to_f64(), vec![0.5, -1.0, 3.25]);
}

/// A deterministic spread of values: signs, tiny and huge magnitudes, -0.0, subnormals.
fn values(n: usize) -> Vec<f64> {
    let mut s = 0x9E37_79B9_7F4A_7C15u64;
    (0..n)
        .map(|i| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            match i % 7 {
                0 => -0.0,
                1 => f64::MIN_POSITIVE / 8.0,
                2 => f64::MAX,
                _ => {
                    f64::from_bits(s & 0x7FEF_FFFF_FFFF_FFFF) * if s & 1 == 0 { 1.0 } else { -1.0 }
                }
            }
        })
        .collect()
}

#[test]
fn round_trips_f64_and_f32_in_several_shapes() {
    let shapes: &[&[usize]] = &[
        &[],
        &[1],
        &[7],
        &[0],
        &[3, 4],
        &[10, 1],
        &[0, 2],
        &[2, 3, 5],
    ];
    for &shape in shapes {
        let n: usize = shape.iter().product();
        let x = values(n);
        let bytes = to_bytes(shape, &x).unwrap();
        let a = from_bytes(&bytes).unwrap();
        assert_eq!(a.shape, shape);
        match &a.data {
            // Bit patterns, so -0.0 and subnormals count.
            Data::F64(v) => assert_eq!(
                v.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
                x.iter().map(|x| x.to_bits()).collect::<Vec<_>>()
            ),
            d => panic!("{shape:?}: read back as {}", d.dtype()),
        }

        let y: Vec<f32> = x.iter().map(|&v| (v * 1e-300) as f32).collect();
        let a = from_bytes(&to_bytes(shape, &y).unwrap()).unwrap();
        assert_eq!(a.shape, shape);
        match &a.data {
            Data::F32(v) => assert_eq!(
                v.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
                y.iter().map(|x| x.to_bits()).collect::<Vec<_>>()
            ),
            d => panic!("{shape:?}: read back as {}", d.dtype()),
        }
    }
}

#[test]
fn round_trips_through_a_file() {
    let path = std::env::temp_dir().join(format!("keops-npy-test-{}.npy", std::process::id()));
    let x = values(12);
    npy::write(&path, &[4, 3], &x).unwrap();
    let a = npy::read(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    assert_eq!(a.shape, vec![4, 3]);
    assert_eq!(a.data.to_f64().len(), 12);
    assert_eq!(
        a.data
            .to_f64()
            .iter()
            .map(|x| x.to_bits())
            .collect::<Vec<_>>(),
        x.iter().map(|x| x.to_bits()).collect::<Vec<_>>()
    );
}

#[test]
fn headers_are_padded_to_64_bytes() {
    // For every shape: the length field matches, the header text ends with '\n', the data starts on
    // a multiple of 64, and there are fewer than 64 padding bytes beyond numpy's growth space
    // (except exactly 64 when the text alone ends on the boundary, numpy's rule).
    let mut shapes: Vec<Vec<usize>> = Vec::new();
    let mut full_pads = 0;
    for a in [0, 1, 9, 10, 99, 12345, 1_000_000_007] {
        shapes.push(vec![a]);
        for b in [1, 2, 33, 4096] {
            shapes.push(vec![a, b]);
            shapes.push(vec![a, b, 0]);
        }
    }
    for k in 0..40 {
        let mut s = vec![0, 7];
        s.extend(std::iter::repeat_n(1, k % 12));
        s.push(10usize.pow(k as u32 / 12));
        shapes.push(s);
    }
    for shape in &shapes {
        // Zero-size data keeps huge shapes cheap: a trailing 0 or a leading 0.
        let mut shape = shape.clone();
        if !shape.contains(&0) {
            shape.push(0);
        }
        let bytes = to_bytes::<f32>(&shape, &[]).unwrap();
        assert_eq!(bytes.len() % 64, 0, "{shape:?}");
        assert_eq!(&bytes[..8], b"\x93NUMPY\x01\x00");
        let hlen = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
        assert_eq!(10 + hlen, bytes.len(), "{shape:?}");
        assert_eq!(*bytes.last().unwrap(), b'\n');
        let text = std::str::from_utf8(&bytes[10..]).unwrap();
        let body = text.trim_end();
        let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
        let expect = if shape.len() == 1 {
            format!(
                "{{'descr': '<f4', 'fortran_order': False, 'shape': ({},), }}",
                dims[0]
            )
        } else {
            format!(
                "{{'descr': '<f4', 'fortran_order': False, 'shape': ({}), }}",
                dims.join(", ")
            )
        };
        assert_eq!(body, expect);
        let growth = 21 - dims[0].len();
        let pad = text.len() - 1 - body.len() - growth;
        let base = 10 + body.len() + growth + 1;
        assert_eq!(pad, 64 - base % 64, "{shape:?}");
        full_pads += usize::from(pad == 64);
        assert_eq!(from_bytes(&bytes).unwrap().shape, shape);
    }
    // The shapes include numpy's corner case of a header text ending on the boundary.
    assert!(full_pads > 0);
}

#[test]
fn write_rejects_a_shape_that_does_not_hold_the_data() {
    assert!(matches!(
        to_bytes(&[2, 2], &[1.0f64, 2.0, 3.0]),
        Err(NpyError::Format(_))
    ));
    assert!(matches!(
        to_bytes::<f32>(&[], &[]),
        Err(NpyError::Format(_))
    ));
    assert!(to_bytes(&[usize::MAX, 2], &[1.0f32]).is_err());
}

#[test]
fn bad_magic_is_an_error() {
    let mut v = cat(NUMPY_3_F64_HEADER, NUMPY_3_F64_DATA);
    v[1] = b'n';
    assert!(format_message(from_bytes(&v)).contains("not a .npy file"));
    assert!(format_message(from_bytes(b"")).contains("not a .npy file"));
    assert!(format_message(from_bytes(b"x,y\n1,2\n")).contains("not a .npy file"));
}

#[test]
fn fortran_order_is_an_error() {
    let m = format_message(from_bytes(&with_header_text(
        "{'descr': '<f8', 'fortran_order': True, 'shape': (3,), }",
    )));
    assert!(m.contains("Fortran"), "{m}");
}

#[test]
fn big_endian_is_an_error() {
    let m = format_message(from_bytes(&with_header_text(
        "{'descr': '>f8', 'fortran_order': False, 'shape': (3,), }",
    )));
    assert!(m.contains("big-endian"), "{m}");
}

#[test]
fn other_dtypes_are_errors() {
    for d in ["'<i8'", "'<f2'", "'|u1'", "'<c16'", "[('a', '<f8')]"] {
        let m = format_message(from_bytes(&with_header_text(&format!(
            "{{'descr': {d}, 'fortran_order': False, 'shape': (3,), }}"
        ))));
        assert!(m.contains("unsupported dtype"), "{d}: {m}");
    }
}

#[test]
fn malformed_headers_and_sizes_are_errors() {
    let full = cat(NUMPY_3_F64_HEADER, NUMPY_3_F64_DATA);
    // Truncated data, extra data, truncated header, unknown version.
    assert!(format_message(from_bytes(&full[..full.len() - 1])).contains("bytes after it"));
    assert!(format_message(from_bytes(&cat(&full, &[0; 8]))).contains("bytes after it"));
    assert!(format_message(from_bytes(&full[..60])).contains("truncated"));
    let mut v = full.clone();
    v[6] = 9;
    assert!(format_message(from_bytes(&v)).contains("version 9.0"));
    for text in [
        "{'descr': '<f8', 'fortran_order': False}",
        "{'descr': '<f8', 'shape': (3,)}",
        "{'fortran_order': False, 'shape': (3,)}",
        "{'descr': '<f8', 'fortran_order': False, 'shape': (3,), 'extra': 1}",
        "{'descr': '<f8', 'fortran_order': False, 'shape': (-3,)}",
        "{'descr': '<f8', 'fortran_order': False, 'shape': 3}",
        "{'descr': '<f8', 'fortran_order': 0, 'shape': (3,)}",
        "['descr', '<f8']",
        "{'descr': '<f8', 'fortran_order': False, 'shape': (3,)} x",
    ] {
        let m = format_message(from_bytes(&with_header_text(text)));
        assert!(m.contains("malformed .npy header"), "{text}: {m}");
    }
}

#[test]
fn a_missing_file_is_an_io_error() {
    let e = npy::read("/nonexistent/dir/x.npy").unwrap_err();
    assert!(matches!(e, NpyError::Io(_)));
    assert!(!e.to_string().is_empty());
}

// Property tests (issue 15): the reader on arbitrary and mutated bytes never panics and returns the
// array or a `NpyError::Format`; valid files of random shapes and dtypes round-trip bit for bit.
// A fixed seed, no failure files; `PROPTEST_CASES=N` runs N cases of each (README: Contributing).

mod properties {
    use super::*;
    use proptest::prelude::*;
    use proptest::test_runner::{Config, RngSeed};

    fn config(cases: u32) -> Config {
        Config {
            cases,
            rng_seed: RngSeed::Fixed(0x6e70_7915),
            failure_persistence: None,
            ..Config::default()
        }
    }

    /// An array as the writer takes it: a shape (0 to 4 axes, some of length 0) and the bits of
    /// its values (any bits: NaNs with payloads, infinities, subnormals, -0.0).
    #[derive(Debug, Clone)]
    enum Values {
        F32(Vec<u32>),
        F64(Vec<u64>),
    }

    fn shape() -> impl Strategy<Value = Vec<usize>> {
        prop_oneof![
            prop::collection::vec(0usize..5, 0..5),
            // One long axis: headers of several lengths (numpy's growth space, 64-byte padding).
            (0usize..300).prop_map(|n| vec![n]),
            (0usize..100, 1usize..4).prop_map(|(n, d)| vec![n, d]),
        ]
    }

    fn array() -> impl Strategy<Value = (Vec<usize>, Values)> {
        (shape(), any::<bool>()).prop_flat_map(|(shape, wide)| {
            let n: usize = shape.iter().product();
            let values = if wide {
                prop::collection::vec(any::<u64>(), n)
                    .prop_map(Values::F64)
                    .boxed()
            } else {
                prop::collection::vec(any::<u32>(), n)
                    .prop_map(Values::F32)
                    .boxed()
            };
            (Just(shape), values)
        })
    }

    fn file(shape: &[usize], values: &Values) -> Vec<u8> {
        match values {
            Values::F32(b) => {
                let v: Vec<f32> = b.iter().map(|&b| f32::from_bits(b)).collect();
                to_bytes(shape, &v).unwrap()
            }
            Values::F64(b) => {
                let v: Vec<f64> = b.iter().map(|&b| f64::from_bits(b)).collect();
                to_bytes(shape, &v).unwrap()
            }
        }
    }

    /// What the reader must do with any bytes: return an array whose shape holds its values, or
    /// a format error (an I/O error cannot come from bytes). A returned array is written and read
    /// back unchanged.
    fn read_checked(bytes: &[u8]) -> Result<Option<Array>, TestCaseError> {
        match from_bytes(bytes) {
            Ok(a) => {
                let count: usize = a.shape.iter().product();
                prop_assert_eq!(count, a.data.len(), "shape {:?}", a.shape);
                let again = match &a.data {
                    Data::F32(v) => to_bytes(&a.shape, v),
                    Data::F64(v) => to_bytes(&a.shape, v),
                }
                .map_err(|e| TestCaseError::fail(format!("cannot write it back: {e}")))?;
                let back = from_bytes(&again)
                    .map_err(|e| TestCaseError::fail(format!("cannot read it back: {e}")))?;
                prop_assert_eq!(bits(&back.data), bits(&a.data));
                prop_assert_eq!(&back.shape, &a.shape);
                Ok(Some(a))
            }
            Err(NpyError::Format(m)) => {
                prop_assert!(!m.is_empty());
                Ok(None)
            }
            Err(e @ NpyError::Io(_)) => Err(TestCaseError::fail(format!("an I/O error: {e}"))),
        }
    }

    fn bits(d: &Data) -> Vec<u64> {
        match d {
            Data::F32(v) => v.iter().map(|x| u64::from(x.to_bits())).collect(),
            Data::F64(v) => v.iter().map(|x| x.to_bits()).collect(),
        }
    }

    /// Characters of headers: what numpy writes, and what breaks it.
    const HEADER_CHARS: &[u8] =
        b"{}()[]'\",:. \n\t0123456789-LTrueFalsedescrshapefortran_order<>|f48iu\\\x00\xff";

    fn header_text() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            prop::collection::vec(prop::sample::select(HEADER_CHARS), 0..120),
            // A header with random dims and dtype spellings, near-valid.
            (
                prop::sample::select(
                    &[
                        "'<f8'",
                        "'<f4'",
                        "'>f8'",
                        "'<i8'",
                        "'f8'",
                        "\"<f4\"",
                        "[('a', '<f8')]",
                        "[[",
                        "3",
                        "'"
                    ][..]
                ),
                prop::sample::select(&["False", "True", "0", "Fals", "None"][..]),
                prop::collection::vec(
                    prop::sample::select(
                        &[
                            "0",
                            "1",
                            "3",
                            "3L",
                            "-1",
                            "18446744073709551615",
                            "99999999999999999999",
                            "",
                            "x"
                        ][..]
                    ),
                    0..4
                ),
                prop::sample::select(&[",", ", ", ",)", ")", "(", ""][..]),
            )
                .prop_map(|(d, f, dims, tail)| {
                    format!(
                        "{{'descr': {d}, 'fortran_order': {f}, 'shape': ({}{tail}), }}",
                        dims.join(", ")
                    )
                    .into_bytes()
                }),
        ]
    }

    /// A `.npy` prefix (magic, a version, a header length that may lie) before a header and data.
    fn prefixed() -> impl Strategy<Value = Vec<u8>> {
        (
            prop::sample::select(&[1u8, 2, 3, 0, 4, 255][..]),
            any::<u32>(),
            any::<bool>(),
            header_text(),
            prop::collection::vec(any::<u8>(), 0..64),
        )
            .prop_map(|(major, len, honest, text, data)| {
                let mut v = b"\x93NUMPY".to_vec();
                v.extend([major, 0]);
                let len = if honest { text.len() as u32 } else { len };
                if major == 1 {
                    v.extend((len as u16).to_le_bytes());
                } else {
                    v.extend(len.to_le_bytes());
                }
                v.extend(text);
                v.extend(data);
                v
            })
    }

    /// One edit of a valid file; positions are taken modulo its length.
    #[derive(Debug, Clone)]
    enum Edit {
        /// XOR a byte.
        Flip(usize, u8),
        /// Keep the first bytes.
        Truncate(usize),
        /// Append bytes.
        Extend(Vec<u8>),
        /// Overwrite bytes of the header text (after the 10- or 12-byte prefix).
        Header(usize, Vec<u8>),
        /// Remove bytes of the header text.
        Cut(usize, usize),
        /// Overwrite the header-length field.
        Length(u32),
    }

    fn edit() -> impl Strategy<Value = Edit> {
        prop_oneof![
            3 => (any::<usize>(), 1..=255u8).prop_map(|(i, x)| Edit::Flip(i, x)),
            1 => any::<usize>().prop_map(Edit::Truncate),
            1 => prop::collection::vec(any::<u8>(), 1..16).prop_map(Edit::Extend),
            3 => (any::<usize>(), prop::collection::vec(prop::sample::select(HEADER_CHARS), 1..8))
                .prop_map(|(i, b)| Edit::Header(i, b)),
            1 => (any::<usize>(), 1usize..12).prop_map(|(i, n)| Edit::Cut(i, n)),
            1 => any::<u32>().prop_map(Edit::Length),
        ]
    }

    fn apply(v: &mut Vec<u8>, e: &Edit) {
        let n = v.len();
        let text = 10..n.clamp(10, 128);
        match e {
            Edit::Flip(i, x) if n > 0 => v[i % n] ^= x,
            Edit::Truncate(k) => v.truncate(k % (n + 1)),
            Edit::Extend(b) => v.extend(b),
            Edit::Header(i, b) if !text.is_empty() => {
                let at = text.start + i % text.len();
                for (k, &c) in b.iter().enumerate() {
                    if let Some(x) = v.get_mut(at + k) {
                        *x = c;
                    }
                }
            }
            Edit::Cut(i, len) if !text.is_empty() => {
                let at = text.start + i % text.len();
                v.drain(at..(at + len).min(n));
            }
            Edit::Length(len) if n >= 10 => {
                let len = len.to_le_bytes();
                v[8] = len[0];
                v[9] = len[1];
            }
            _ => {}
        }
    }

    proptest! {
        #![proptest_config(config(256))]

        #[test]
        fn valid_files_round_trip((shape, values) in array()) {
            let bytes = file(&shape, &values);
            // numpy's layout: data starts on a multiple of 64, the header ends with '\n'.
            let data_bytes = match &values {
                Values::F32(b) => 4 * b.len(),
                Values::F64(b) => 8 * b.len(),
            };
            prop_assert_eq!((bytes.len() - data_bytes) % 64, 0);
            prop_assert_eq!(bytes[bytes.len() - data_bytes - 1], b'\n');
            let a = from_bytes(&bytes).unwrap();
            prop_assert_eq!(&a.shape, &shape);
            match (&a.data, &values) {
                (Data::F32(got), Values::F32(want)) => {
                    let got: Vec<u32> = got.iter().map(|x| x.to_bits()).collect();
                    prop_assert_eq!(&got, want);
                }
                (Data::F64(got), Values::F64(want)) => {
                    let got: Vec<u64> = got.iter().map(|x| x.to_bits()).collect();
                    prop_assert_eq!(&got, want);
                }
                (got, _) => prop_assert!(false, "read back as {}", got.dtype()),
            }
            // And the general checks.
            read_checked(&bytes)?;
        }
    }

    /// Runs `cases` cases of `strategy` (unless `PROPTEST_CASES` says otherwise) through
    /// [`read_checked`]; fails unless at least `min_read` and `min_rejected` of them (fractions)
    /// were read and rejected, so that the generator exercises both outcomes (checked from 200
    /// cases on: fewer may miss a rare outcome by chance).
    fn reader_property<S: Strategy>(
        name: &str,
        cases: u32,
        (min_read, min_rejected): (f64, f64),
        strategy: S,
        bytes: fn(S::Value) -> Vec<u8>,
    ) {
        let config = proptest::test_runner::contextualize_config(config(cases));
        let cases = config.cases as f64;
        let mut runner = proptest::test_runner::TestRunner::new(config);
        let counts = std::cell::Cell::new((0usize, 0usize));
        let result = runner.run(&strategy, |value| {
            let (read, rejected) = counts.get();
            counts.set(match read_checked(&bytes(value))? {
                Some(_) => (read + 1, rejected),
                None => (read, rejected + 1),
            });
            Ok(())
        });
        if let Err(e) = result {
            panic!("{name}: {e}");
        }
        let (read, rejected) = counts.get();
        eprintln!("{name}: {cases} cases, {read} read, {rejected} rejected");
        if cases >= 200.0 {
            assert!(read as f64 >= min_read * cases, "{name}: {read} read");
            assert!(
                rejected as f64 >= min_rejected * cases,
                "{name}: {rejected} rejected"
            );
        }
    }

    #[test]
    fn arbitrary_bytes_are_an_array_or_a_format_error() {
        let bytes = prop::collection::vec(any::<u8>(), 0..300);
        reader_property("arbitrary bytes", 1024, (0.0, 1.0), bytes, |b| b);
    }

    #[test]
    fn lying_headers_are_an_array_or_a_format_error() {
        reader_property("lying headers", 1024, (0.0, 0.5), prefixed(), |b| b);
    }

    #[test]
    fn mutated_files_are_an_array_or_a_format_error() {
        let edited = (array(), prop::collection::vec(edit(), 1..4));
        reader_property(
            "mutated files",
            1024,
            (0.02, 0.3),
            edited,
            |((shape, values), edits)| {
                let mut bytes = file(&shape, &values);
                for e in &edits {
                    apply(&mut bytes, e);
                }
                bytes
            },
        );
    }
}

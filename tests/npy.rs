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

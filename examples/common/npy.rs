//! A minimal reader and writer of NumPy's `.npy` files, for `float32` and `float64` arrays stored
//! little-endian in C (row-major) order: what `np.save("x.npy", x.astype(np.float32))` produces.
//!
//! Reads format versions 1.0, 2.0 and 3.0; writes 1.0 (2.0 for a header over 64 KiB) byte for byte
//! as numpy 1.26's `np.save` does, header padded with spaces to a multiple of 64 bytes.
//! The format: numpy's `numpy/lib/format.py` (NEP 1).
//!
//! Why not a maintained crate: ndarray-npy reports a short file as a bare `MissingData` and a
//! wrong dtype as the descriptor alone, and brings ndarray; the kriging tool's messages name the
//! file, the shape the header announces against the bytes present, and the dtype found against
//! the two it reads (checked by tests/npy.rs and tests/kriging_cli.rs, and fuzzed by proptest).

// Shared by the kriging example and tests/npy.rs, each using part of it.
#![allow(dead_code)]

use std::fmt;
use std::path::Path;

const MAGIC: &[u8; 6] = b"\x93NUMPY";
/// numpy aligns the start of the data to this many bytes.
const ALIGN: usize = 64;
/// numpy leaves room for the growing axis' length to reach this many digits.
const GROWTH_AXIS_MAX_DIGITS: usize = 21;

/// The values of an array, in the file's precision.
#[derive(Debug, Clone, PartialEq)]
pub enum Data {
    F32(Vec<f32>),
    F64(Vec<f64>),
}

impl Data {
    /// Number of values.
    pub fn len(&self) -> usize {
        match self {
            Data::F32(v) => v.len(),
            Data::F64(v) => v.len(),
        }
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// numpy's name of the element type.
    pub fn dtype(&self) -> &'static str {
        match self {
            Data::F32(_) => "float32",
            Data::F64(_) => "float64",
        }
    }
    /// The values widened to `f64`.
    pub fn to_f64(&self) -> Vec<f64> {
        match self {
            Data::F32(v) => v.iter().map(|&x| x as f64).collect(),
            Data::F64(v) => v.clone(),
        }
    }
}

/// An array read from a `.npy` file: its shape (empty for a 0-d array) and values in C order.
#[derive(Debug, Clone, PartialEq)]
pub struct Array {
    pub shape: Vec<usize>,
    pub data: Data,
}

/// Why a `.npy` file could not be read or written.
#[derive(Debug)]
pub enum NpyError {
    /// The file could not be opened, read or written.
    Io(std::io::Error),
    /// The bytes are not a `.npy` file this module can read, or the array does not match its shape.
    Format(String),
}

impl fmt::Display for NpyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NpyError::Io(e) => write!(f, "{e}"),
            NpyError::Format(m) => write!(f, "{m}"),
        }
    }
}

impl std::error::Error for NpyError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            NpyError::Io(e) => Some(e),
            NpyError::Format(_) => None,
        }
    }
}

impl From<std::io::Error> for NpyError {
    fn from(e: std::io::Error) -> Self {
        NpyError::Io(e)
    }
}

fn format_err<T>(msg: impl Into<String>) -> Result<T, NpyError> {
    Err(NpyError::Format(msg.into()))
}

/// Reads a `.npy` file.
pub fn read(path: impl AsRef<Path>) -> Result<Array, NpyError> {
    from_bytes(&std::fs::read(path)?)
}

/// Parses the bytes of a `.npy` file.
pub fn from_bytes(bytes: &[u8]) -> Result<Array, NpyError> {
    if bytes.len() < 10 || &bytes[..6] != MAGIC {
        return format_err("not a .npy file (it does not start with \\x93NUMPY)");
    }
    let (major, minor) = (bytes[6], bytes[7]);
    let (header_len, start) = match major {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 => {
            if bytes.len() < 12 {
                return format_err("truncated .npy header");
            }
            let len = u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]);
            (len as usize, 12)
        }
        _ => return format_err(format!("unsupported .npy format version {major}.{minor}")),
    };
    let Some(header) = bytes.get(start..start + header_len) else {
        return format_err("truncated .npy header");
    };
    let header = std::str::from_utf8(header)
        .map_err(|_| NpyError::Format("the .npy header is not text".into()))?;
    let header = parse_header(header)?;
    let payload = &bytes[start + header_len..];

    let count = header
        .shape
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| NpyError::Format(format!("shape {:?} is too large", header.shape)))?;
    let item = match header.dtype {
        Dtype::F32 => 4,
        Dtype::F64 => 8,
    };
    let expected = count
        .checked_mul(item)
        .ok_or_else(|| NpyError::Format(format!("shape {:?} is too large", header.shape)))?;
    if payload.len() != expected {
        return format_err(format!(
            "the header announces shape {:?} ({expected} bytes of data) but the file has {} bytes after it",
            header.shape,
            payload.len()
        ));
    }
    let data = match header.dtype {
        Dtype::F32 => Data::F32(
            payload
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
                .collect(),
        ),
        Dtype::F64 => Data::F64(
            payload
                .chunks_exact(8)
                .map(|c| f64::from_le_bytes(c.try_into().unwrap()))
                .collect(),
        ),
    };
    Ok(Array {
        shape: header.shape,
        data,
    })
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Dtype {
    F32,
    F64,
}

struct Header {
    dtype: Dtype,
    shape: Vec<usize>,
}

/// A value of the header's Python dict literal.
#[derive(Debug)]
enum Value {
    Str(String),
    Bool(bool),
    Int(usize),
    Tuple(Vec<usize>),
    Other(String),
}

/// Parses `{'descr': '<f8', 'fortran_order': False, 'shape': (3, 2), }` (any key order, spaces and
/// trailing commas as Python allows).
fn parse_header(text: &str) -> Result<Header, NpyError> {
    let mut p = Parser {
        s: text.trim_end().as_bytes(),
        i: 0,
    };
    let bad = |what: &str| NpyError::Format(format!("malformed .npy header ({what}): {text:?}"));
    p.skip_ws();
    if !p.eat(b'{') {
        return Err(bad("expected '{'"));
    }
    let (mut descr, mut fortran, mut shape) = (None, None, None);
    loop {
        p.skip_ws();
        if p.eat(b'}') {
            break;
        }
        let key = match p.value().map_err(|e| bad(&e))? {
            Value::Str(k) => k,
            _ => return Err(bad("a key is not a string")),
        };
        p.skip_ws();
        if !p.eat(b':') {
            return Err(bad("expected ':'"));
        }
        p.skip_ws();
        let value = p.value().map_err(|e| bad(&e))?;
        match key.as_str() {
            "descr" => descr = Some(value),
            "fortran_order" => fortran = Some(value),
            "shape" => shape = Some(value),
            other => return Err(bad(&format!("unexpected key '{other}'"))),
        }
        p.skip_ws();
        if !p.eat(b',') {
            p.skip_ws();
            if !p.eat(b'}') {
                return Err(bad("expected ',' or '}'"));
            }
            break;
        }
    }
    p.skip_ws();
    if p.i != p.s.len() {
        return Err(bad("text after '}'"));
    }

    let dtype = match descr {
        Some(Value::Str(d)) => match d.as_str() {
            "<f4" => Dtype::F32,
            "<f8" => Dtype::F64,
            ">f4" | ">f8" => {
                return format_err(format!(
                    "big-endian data ('{d}') is not supported: convert it with \
                     a.astype('<{}') before np.save",
                    &d[1..]
                ))
            }
            _ => {
                return format_err(format!(
                    "unsupported dtype '{d}': only float32 ('<f4') and float64 ('<f8') arrays \
                     can be read; convert with a.astype(np.float64)"
                ))
            }
        },
        Some(Value::Other(d)) => {
            return format_err(format!(
                "unsupported dtype {d}: only float32 ('<f4') and float64 ('<f8') arrays can be read"
            ))
        }
        Some(_) => return Err(bad("'descr' is not a string")),
        None => return Err(bad("no 'descr'")),
    };
    match fortran {
        Some(Value::Bool(false)) => {}
        Some(Value::Bool(true)) => {
            return format_err(
                "Fortran-ordered (column-major) arrays are not supported: save \
                 np.ascontiguousarray(a) instead",
            )
        }
        Some(_) => return Err(bad("'fortran_order' is not True or False")),
        None => return Err(bad("no 'fortran_order'")),
    }
    let shape = match shape {
        Some(Value::Tuple(s)) => s,
        Some(_) => return Err(bad("'shape' is not a tuple of integers")),
        None => return Err(bad("no 'shape'")),
    };
    Ok(Header { dtype, shape })
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }
    fn eat(&mut self, c: u8) -> bool {
        if self.peek() == Some(c) {
            self.i += 1;
            true
        } else {
            false
        }
    }
    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.i += 1;
        }
    }
    fn int(&mut self) -> Result<usize, String> {
        let start = self.i;
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.i += 1;
        }
        // Python 2 era files may write `3L`.
        let digits = std::str::from_utf8(&self.s[start..self.i]).unwrap();
        self.eat(b'L');
        digits
            .parse()
            .map_err(|_| format!("bad integer at byte {start}"))
    }
    fn value(&mut self) -> Result<Value, String> {
        match self.peek() {
            Some(q @ (b'\'' | b'"')) => {
                self.i += 1;
                let start = self.i;
                while self.peek().is_some_and(|c| c != q) {
                    self.i += 1;
                }
                let s = String::from_utf8_lossy(&self.s[start..self.i]).into_owned();
                if !self.eat(q) {
                    return Err("unterminated string".into());
                }
                Ok(Value::Str(s))
            }
            Some(b'(') => {
                self.i += 1;
                let mut dims = Vec::new();
                loop {
                    self.skip_ws();
                    if self.eat(b')') {
                        break;
                    }
                    dims.push(self.int()?);
                    self.skip_ws();
                    if !self.eat(b',') {
                        self.skip_ws();
                        if !self.eat(b')') {
                            return Err("expected ',' or ')' in a tuple".into());
                        }
                        break;
                    }
                }
                Ok(Value::Tuple(dims))
            }
            Some(b'0'..=b'9') => Ok(Value::Int(self.int()?)),
            Some(b'[') => {
                // A structured dtype: a list of fields. Keep its text for the message.
                let start = self.i;
                let mut depth = 0usize;
                while let Some(c) = self.peek() {
                    self.i += 1;
                    match c {
                        b'[' => depth += 1,
                        b']' => {
                            depth -= 1;
                            if depth == 0 {
                                break;
                            }
                        }
                        _ => {}
                    }
                }
                Ok(Value::Other(
                    String::from_utf8_lossy(&self.s[start..self.i]).into_owned(),
                ))
            }
            _ => {
                let rest = &self.s[self.i..];
                if rest.starts_with(b"True") {
                    self.i += 4;
                    Ok(Value::Bool(true))
                } else if rest.starts_with(b"False") {
                    self.i += 5;
                    Ok(Value::Bool(false))
                } else {
                    Err(format!("unexpected character at byte {}", self.i))
                }
            }
        }
    }
}

/// An element type that can be written: `f32` (`'<f4'`) or `f64` (`'<f8'`).
pub trait Element: Copy {
    /// numpy's `descr` of the type, little-endian.
    const DESCR: &'static str;
    fn extend_le(self, out: &mut Vec<u8>);
}

impl Element for f32 {
    const DESCR: &'static str = "<f4";
    fn extend_le(self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_le_bytes());
    }
}

impl Element for f64 {
    const DESCR: &'static str = "<f8";
    fn extend_le(self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_le_bytes());
    }
}

/// The bytes of a `.npy` file holding `data` (C order) with the given shape, as numpy 1.26 writes
/// them. Fails if the shape does not hold exactly `data.len()` values.
pub fn to_bytes<T: Element>(shape: &[usize], data: &[T]) -> Result<Vec<u8>, NpyError> {
    let count = shape.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d));
    if count != Some(data.len()) {
        return format_err(format!(
            "shape {shape:?} does not hold {} values",
            data.len()
        ));
    }
    let shape_repr = match shape {
        [] => "()".to_string(),
        [d] => format!("({d},)"),
        _ => {
            let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
            format!("({})", dims.join(", "))
        }
    };
    let mut header = format!(
        "{{'descr': '{}', 'fortran_order': False, 'shape': {shape_repr}, }}",
        T::DESCR
    );
    if let Some(first) = shape.first() {
        let digits = first.to_string().len();
        header.extend(std::iter::repeat_n(
            ' ',
            GROWTH_AXIS_MAX_DIGITS.saturating_sub(digits),
        ));
    }
    // Header text, spaces, then '\n' so that the data starts on a multiple of 64 bytes; numpy adds
    // a full 64 spaces when the text alone would already end on the boundary.
    let hlen = header.len() + 1;
    let pad_for = |prefix: usize| ALIGN - (prefix + hlen) % ALIGN;
    let (major, prefix) = if hlen + pad_for(10) <= u16::MAX as usize {
        (1u8, 10)
    } else {
        (2u8, 12)
    };
    let pad = pad_for(prefix);
    let mut out = Vec::with_capacity(prefix + hlen + pad + data.len() * 8);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&[major, 0]);
    let total = (hlen + pad) as u32;
    if major == 1 {
        out.extend_from_slice(&(total as u16).to_le_bytes());
    } else {
        out.extend_from_slice(&total.to_le_bytes());
    }
    out.extend_from_slice(header.as_bytes());
    out.extend(std::iter::repeat_n(b' ', pad));
    out.push(b'\n');
    for &x in data {
        x.extend_le(&mut out);
    }
    Ok(out)
}

/// Writes `data` with the given shape as a `.npy` file.
pub fn write<T: Element>(
    path: impl AsRef<Path>,
    shape: &[usize],
    data: &[T],
) -> Result<(), NpyError> {
    std::fs::write(path, to_bytes(shape, data)?)?;
    Ok(())
}

//! The pickle virtual machine (protocols 0–5, the opcodes real checkpoints use).
//!
//! Safety: every length read from the stream is checked against the bytes that remain before
//! anything is allocated, the memo is a map (an index of 2^32 allocates nothing), and the
//! number of stack items and memo entries is capped, so arbitrary input ends in an error —
//! never a panic, a hang or an unbounded allocation. Every opcode that pushes or stores an
//! item consumes at least one input byte, so the stack and the memo stay proportional to the
//! input; the opcodes that *copy* what is already built (`REDUCE`/`NEWOBJ` copy their argument
//! tuple and the callable's name, `_codecs.encode` and `set(...)` copy their argument) are
//! charged to a copy allowance of [`COPY_FACTOR`] × the input + [`COPY_FLOOR`] bytes, because a
//! memoized tuple or string can be reused by any number of them at a few bytes each.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use crate::value::{Object, Value};
use crate::{Error, Result};

/// Safety limits; the defaults fit multi-GB checkpoints.
#[derive(Clone, Debug)]
pub struct Limits {
    pub max_stack: usize,
    pub max_memo: usize,
    /// Refuse globals outside this list (`None`: record every global symbolically).
    pub allow: Option<Vec<(String, String)>>,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_stack: 1 << 24,
            max_memo: 1 << 24,
            allow: None,
        }
    }
}

/// Unpickle one object from the start of `data`; returns it and the number of bytes read.
pub fn unpickle(data: &[u8]) -> Result<(Value, usize)> {
    Unpickler::new(data, Limits::default()).load()
}

pub struct Unpickler<'a> {
    data: &'a [u8],
    pos: usize,
    stack: Vec<Value>,
    marks: Vec<usize>,
    memo: HashMap<u64, Value>,
    limits: Limits,
    /// Bytes the copying opcodes may still allocate.
    copy_left: usize,
}

/// See the module documentation.
pub const COPY_FACTOR: usize = 16;
/// See the module documentation.
pub const COPY_FLOOR: usize = 16 << 20;

enum Item {
    Stop(Value),
    Continue,
}

impl<'a> Unpickler<'a> {
    pub fn new(data: &'a [u8], limits: Limits) -> Self {
        Self {
            data,
            pos: 0,
            stack: Vec::new(),
            marks: Vec::new(),
            memo: HashMap::new(),
            limits,
            copy_left: data
                .len()
                .saturating_mul(COPY_FACTOR)
                .saturating_add(COPY_FLOOR),
        }
    }

    pub fn load(mut self) -> Result<(Value, usize)> {
        loop {
            if let Item::Stop(v) = self.step()? {
                return Ok((v, self.pos));
            }
        }
    }

    fn malformed(&self, msg: impl Into<String>) -> Error {
        Error::Malformed {
            pos: self.pos,
            msg: msg.into(),
        }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if self.data.len() - self.pos < n {
            return Err(Error::Eof(self.data.len()));
        }
        let s = &self.data[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }
    fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16> {
        Ok(u16::from_le_bytes(self.take(2)?.try_into().unwrap()))
    }
    fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().unwrap()))
    }
    fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into().unwrap()))
    }
    /// A length that must fit in the remaining input.
    fn len(&mut self, n: u64) -> Result<&'a [u8]> {
        let n = usize::try_from(n).map_err(|_| Error::Eof(self.data.len()))?;
        self.take(n)
    }
    fn line(&mut self) -> Result<&'a str> {
        let rest = &self.data[self.pos..];
        let end = rest
            .iter()
            .position(|&b| b == b'\n')
            .ok_or(Error::Eof(self.data.len()))?;
        self.pos += end + 1;
        std::str::from_utf8(&rest[..end]).map_err(|_| self.malformed("text line is not UTF-8"))
    }

    fn push(&mut self, v: Value) -> Result<()> {
        if self.stack.len() >= self.limits.max_stack {
            return Err(Error::Limit(format!(
                "more than {} stack items",
                self.limits.max_stack
            )));
        }
        self.stack.push(v);
        Ok(())
    }
    fn pop(&mut self) -> Result<Value> {
        let floor = self.marks.last().copied().unwrap_or(0);
        if self.stack.len() <= floor {
            return Err(self.malformed("stack underflow"));
        }
        Ok(self.stack.pop().unwrap())
    }
    fn top(&self) -> Result<&Value> {
        self.stack
            .last()
            .ok_or_else(|| self.malformed("stack underflow"))
    }
    fn pop_mark(&mut self) -> Result<Vec<Value>> {
        let m = self
            .marks
            .pop()
            .ok_or_else(|| self.malformed("no MARK on the stack"))?;
        Ok(self.stack.split_off(m))
    }
    fn memo_put(&mut self, idx: u64) -> Result<()> {
        let v = self.top()?.clone();
        if self.memo.len() >= self.limits.max_memo && !self.memo.contains_key(&idx) {
            return Err(Error::Limit(format!(
                "more than {} memo entries",
                self.limits.max_memo
            )));
        }
        self.memo.insert(idx, v);
        Ok(())
    }
    fn memo_get(&mut self, idx: u64) -> Result<()> {
        let v = self
            .memo
            .get(&idx)
            .cloned()
            .ok_or_else(|| self.malformed(format!("memo key {idx} is not defined")))?;
        self.push(v)
    }

    fn global(&self, module: &str, name: &str) -> Result<Value> {
        if let Some(allow) = &self.limits.allow {
            if !allow.iter().any(|(m, n)| m == module && n == name) {
                return Err(Error::RefusedGlobal {
                    module: module.into(),
                    name: name.into(),
                });
            }
        }
        Ok(Value::Global(Rc::new((
            module.to_string(),
            name.to_string(),
        ))))
    }

    /// Charge `bytes` of copying to the allowance (see the module documentation).
    fn charge_copy(&mut self, bytes: usize, what: &str) -> Result<()> {
        if bytes > self.copy_left {
            return Err(Error::Limit(format!(
                "{what} at byte {} copies more than the stream may build ({COPY_FACTOR}x its \
                 {} bytes + {} MiB): a few bytes reuse large memoized values",
                self.pos,
                self.data.len(),
                COPY_FLOOR >> 20
            )));
        }
        self.copy_left -= bytes;
        Ok(())
    }

    fn call(&mut self, callable: Value, args: Value) -> Result<Value> {
        let (module, name) = match &callable {
            Value::Global(g) => (g.0.clone(), g.1.clone()),
            _ => return Err(self.malformed("REDUCE/NEWOBJ of something that is not a global")),
        };
        let n_args = match &args {
            Value::Tuple(t) => t.0.len(),
            Value::List(l) => l.borrow().len(),
            _ => 0,
        };
        let value_size = std::mem::size_of::<Value>();
        self.charge_copy(
            std::mem::size_of::<Object>() + module.len() + name.len() + n_args * value_size,
            "REDUCE/NEWOBJ",
        )?;
        let args = args
            .as_seq()
            .ok_or_else(|| self.malformed("REDUCE/NEWOBJ arguments are not a tuple"))?;
        // Pure-data constructors resolved here: protocol-2 bytes, sets.
        match (module.as_str(), name.as_str()) {
            ("_codecs", "encode") => {
                if let (Some(Value::Str(s)), Some(Value::Str(enc))) = (args.first(), args.get(1)) {
                    if enc.as_ref() == "latin1" || enc.as_ref() == "latin-1" {
                        self.charge_copy(s.len(), "_codecs.encode")?;
                        let b: Option<Vec<u8>> =
                            s.chars().map(|c| u8::try_from(c as u32).ok()).collect();
                        let b = b.ok_or_else(|| self.malformed("_codecs.encode: not latin-1"))?;
                        return Ok(Value::Bytes(Rc::new(b)));
                    }
                }
            }
            ("builtins", "bytes") | ("__builtin__", "bytes") if args.is_empty() => {
                return Ok(Value::Bytes(Rc::new(vec![])))
            }
            ("builtins", "set") | ("builtins", "frozenset") => {
                let n = match args.first() {
                    Some(Value::Tuple(t)) => t.0.len(),
                    Some(Value::List(l)) => l.borrow().len(),
                    _ => 0,
                };
                self.charge_copy(n * value_size, "set(...)")?;
                let items = args.first().and_then(|a| a.as_seq()).unwrap_or_default();
                return Ok(Value::set(items));
            }
            _ => {}
        }
        Ok(Value::Object(Rc::new(RefCell::new(Object {
            module,
            name,
            args,
            state: None,
            items: Vec::new(),
            list: Vec::new(),
        }))))
    }

    fn set_items(&self, target: &Value, pairs: Vec<(Value, Value)>) -> Result<()> {
        match target {
            Value::Dict(d) => d.borrow_mut().extend(pairs),
            Value::Object(o) => o.borrow_mut().items.extend(pairs),
            _ => return Err(self.malformed("SETITEM(S) on something that is not a dict")),
        }
        Ok(())
    }

    fn append(&self, target: &Value, items: Vec<Value>) -> Result<()> {
        match target {
            Value::List(l) => l.borrow_mut().extend(items),
            Value::Set(s) => s.borrow_mut().extend(items),
            Value::Object(o) => o.borrow_mut().list.extend(items),
            _ => return Err(self.malformed("APPEND(S) on something that is not a list")),
        }
        Ok(())
    }

    fn step(&mut self) -> Result<Item> {
        let op_pos = self.pos;
        let op = self.u8()?;
        match op {
            0x80 => {
                let p = self.u8()?;
                if p > 5 {
                    return Err(self.malformed(format!("unsupported pickle protocol {p}")));
                }
            }
            0x95 => {
                self.u64()?; // FRAME length: framing is transparent.
            }
            b'.' => return Ok(Item::Stop(self.pop()?)),
            b'(' => {
                if self.marks.len() >= self.limits.max_stack {
                    return Err(Error::Limit("too many MARKs".into()));
                }
                self.marks.push(self.stack.len())
            }
            b'0' => {
                self.pop()?;
            }
            b'1' => {
                self.pop_mark()?;
            }
            b'2' => {
                let v = self.top()?.clone();
                self.push(v)?
            }
            b'}' => self.push(Value::dict(vec![]))?,
            b']' => self.push(Value::list(vec![]))?,
            b')' => self.push(Value::tuple(vec![]))?,
            0x8f => self.push(Value::set(vec![]))?,
            b't' => {
                let items = self.pop_mark()?;
                self.push(Value::tuple(items))?
            }
            0x85..=0x87 => {
                let n = (op - 0x84) as usize;
                let floor = self.marks.last().copied().unwrap_or(0);
                if self.stack.len() < floor + n {
                    return Err(self.malformed("stack underflow in TUPLEn"));
                }
                let items = self.stack.split_off(self.stack.len() - n);
                self.push(Value::tuple(items))?
            }
            b'l' => {
                let items = self.pop_mark()?;
                self.push(Value::list(items))?
            }
            b'd' => {
                let items = self.pop_mark()?;
                let pairs = pairs(items)
                    .ok_or_else(|| self.malformed("DICT with an odd number of items"))?;
                self.push(Value::dict(pairs))?
            }
            0x91 => {
                let items = self.pop_mark()?;
                self.push(Value::set(items))?
            }
            b'a' => {
                let v = self.pop()?;
                let t = self.top()?.clone();
                self.append(&t, vec![v])?
            }
            b'e' | 0x90 => {
                let items = self.pop_mark()?;
                let t = self.top()?.clone();
                self.append(&t, items)?
            }
            b's' => {
                let v = self.pop()?;
                let k = self.pop()?;
                let t = self.top()?.clone();
                self.set_items(&t, vec![(k, v)])?
            }
            b'u' => {
                let items = self.pop_mark()?;
                let pairs = pairs(items)
                    .ok_or_else(|| self.malformed("SETITEMS with an odd number of items"))?;
                let t = self.top()?.clone();
                self.set_items(&t, pairs)?
            }
            b'N' => self.push(Value::None)?,
            0x88 => self.push(Value::Bool(true))?,
            0x89 => self.push(Value::Bool(false))?,
            b'J' => {
                let v = self.u32()? as i32;
                self.push(Value::Int(v as i64))?
            }
            b'K' => {
                let v = self.u8()?;
                self.push(Value::Int(v as i64))?
            }
            b'M' => {
                let v = self.u16()?;
                self.push(Value::Int(v as i64))?
            }
            0x8a | 0x8b => {
                let n = if op == 0x8a {
                    self.u8()? as u64
                } else {
                    self.u32()? as u64
                };
                let bytes = self.len(n)?;
                self.push(long(bytes))?
            }
            b'I' | b'L' => {
                let line = self.line()?.trim_end_matches('L');
                let v = match line {
                    "00" => Value::Bool(false),
                    "01" => Value::Bool(true),
                    s => Value::Int(
                        s.parse()
                            .map_err(|_| self.malformed(format!("bad integer '{s}'")))?,
                    ),
                };
                self.push(v)?
            }
            b'G' => {
                let v = f64::from_be_bytes(self.take(8)?.try_into().unwrap());
                self.push(Value::Float(v))?
            }
            b'F' => {
                let line = self.line()?;
                let v: f64 = line
                    .parse()
                    .map_err(|_| self.malformed(format!("bad float '{line}'")))?;
                self.push(Value::Float(v))?
            }
            b'X' | 0x8c | 0x8d => {
                let n = match op {
                    b'X' => self.u32()? as u64,
                    0x8c => self.u8()? as u64,
                    _ => self.u64()?,
                };
                let b = self.len(n)?;
                let s =
                    std::str::from_utf8(b).map_err(|_| self.malformed("string is not UTF-8"))?;
                self.push(Value::Str(Rc::from(s)))?
            }
            b'T' | b'U' => {
                // Python 2 str: read as latin-1 text, like `encoding='latin1'`.
                let n = if op == b'T' {
                    self.u32()? as u64
                } else {
                    self.u8()? as u64
                };
                let b = self.len(n)?;
                let s: String = b.iter().map(|&c| c as char).collect();
                self.push(Value::Str(Rc::from(s.as_str())))?
            }
            b'B' | b'C' | 0x8e | 0x96 => {
                let n = match op {
                    b'B' => self.u32()? as u64,
                    b'C' => self.u8()? as u64,
                    _ => self.u64()?,
                };
                let b = self.len(n)?.to_vec();
                self.push(Value::Bytes(Rc::new(b)))?
            }
            b'c' => {
                let module = self.line()?.to_string();
                let name = self.line()?.to_string();
                let g = self.global(&module, &name)?;
                self.push(g)?
            }
            0x93 => {
                let name = self.pop()?;
                let module = self.pop()?;
                let (Some(m), Some(n)) = (module.as_str(), name.as_str()) else {
                    return Err(self.malformed("STACK_GLOBAL needs two strings"));
                };
                let g = self.global(m, n)?;
                self.push(g)?
            }
            b'R' => {
                let args = self.pop()?;
                let callable = self.pop()?;
                let v = self.call(callable, args)?;
                self.push(v)?
            }
            0x81 => {
                let args = self.pop()?;
                let cls = self.pop()?;
                let v = self.call(cls, args)?;
                self.push(v)?
            }
            0x92 => {
                let _kwargs = self.pop()?;
                let args = self.pop()?;
                let cls = self.pop()?;
                let v = self.call(cls, args)?;
                self.push(v)?
            }
            b'b' => {
                let state = self.pop()?;
                match self.top()? {
                    Value::Object(o) => o.borrow_mut().state = Some(state),
                    // BUILD on a plain dict (e.g. a state_dict's `_metadata`) updates nothing we use.
                    Value::Dict(_) | Value::List(_) | Value::Set(_) => {}
                    _ => return Err(self.malformed("BUILD on a value that is not an object")),
                }
            }
            b'q' => {
                let i = self.u8()? as u64;
                self.memo_put(i)?
            }
            b'r' => {
                let i = self.u32()? as u64;
                self.memo_put(i)?
            }
            0x94 => {
                let i = self.memo.len() as u64;
                self.memo_put(i)?
            }
            b'p' => {
                let line = self.line()?;
                let i: u64 = line.parse().map_err(|_| self.malformed("bad PUT index"))?;
                self.memo_put(i)?
            }
            b'h' => {
                let i = self.u8()? as u64;
                self.memo_get(i)?
            }
            b'j' => {
                let i = self.u32()? as u64;
                self.memo_get(i)?
            }
            b'g' => {
                let line = self.line()?;
                let i: u64 = line.parse().map_err(|_| self.malformed("bad GET index"))?;
                self.memo_get(i)?
            }
            b'Q' => {
                let pid = self.pop()?;
                self.push(Value::pers_id(pid))?
            }
            b'P' => {
                let line = self.line()?;
                self.push(Value::pers_id(Value::Str(Rc::from(line))))?
            }
            _ => return Err(Error::UnknownOpcode { op, pos: op_pos }),
        }
        Ok(Item::Continue)
    }
}

fn pairs(items: Vec<Value>) -> Option<Vec<(Value, Value)>> {
    if !items.len().is_multiple_of(2) {
        return None;
    }
    let mut it = items.into_iter();
    let mut out = Vec::new();
    while let (Some(k), Some(v)) = (it.next(), it.next()) {
        out.push((k, v));
    }
    Some(out)
}

/// LONG1/LONG4 payload: little-endian two's complement.
fn long(bytes: &[u8]) -> Value {
    if bytes.is_empty() {
        return Value::Int(0);
    }
    if bytes.len() <= 8 {
        let neg = bytes[bytes.len() - 1] & 0x80 != 0;
        let mut buf = [if neg { 0xff } else { 0 }; 8];
        buf[..bytes.len()].copy_from_slice(bytes);
        return Value::Int(i64::from_le_bytes(buf));
    }
    Value::BigInt(Rc::new(bytes.to_vec()))
}

//! The values a pickle stream builds. Containers are shared (`Rc<…>`) because pickle memoizes
//! a container *before* filling it and later `GET`s must see the filled container.
//!
//! Dropping is iterative: a hostile stream can nest containers millions deep in a few bytes
//! per level (through the memo, without growing the VM stack), and the default recursive drop
//! would overflow the thread's stack. Every container type therefore empties itself into a
//! work list when it is dropped.

use std::cell::RefCell;
use std::rc::Rc;

/// An object made by `REDUCE` (`callable(*args)`) or `NEWOBJ` (`cls.__new__(cls, *args)`),
/// with whatever `BUILD`, `SETITEMS` and `APPENDS` added to it. Never executed.
#[derive(Debug, Default)]
pub struct Object {
    /// The callable / class: `(module, name)`.
    pub module: String,
    pub name: String,
    pub args: Vec<Value>,
    /// `BUILD` state.
    pub state: Option<Value>,
    /// Items added by `SETITEM(S)` (dict-like objects such as `OrderedDict`).
    pub items: Vec<(Value, Value)>,
    /// Items added by `APPEND(S)`.
    pub list: Vec<Value>,
}

/// An immutable sequence (tuple contents).
#[derive(Debug, Default)]
pub struct Seq(pub Vec<Value>);

/// A mutable sequence (list / set contents).
#[derive(Debug, Default)]
pub struct ListCell(pub RefCell<Vec<Value>>);

/// Mutable dict contents, in insertion order.
#[derive(Debug, Default)]
pub struct DictCell(pub RefCell<Vec<(Value, Value)>>);

/// The value behind a persistent id.
#[derive(Debug)]
pub struct PidCell(pub Value);

impl std::ops::Deref for ListCell {
    type Target = RefCell<Vec<Value>>;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}
impl std::ops::Deref for DictCell {
    type Target = RefCell<Vec<(Value, Value)>>;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}
impl std::ops::Deref for PidCell {
    type Target = Value;
    fn deref(&self) -> &Value {
        &self.0
    }
}

#[derive(Clone, Debug)]
pub enum Value {
    None,
    Bool(bool),
    Int(i64),
    /// An integer too large for i64, as little-endian two's-complement bytes.
    BigInt(Rc<Vec<u8>>),
    Float(f64),
    Str(Rc<str>),
    Bytes(Rc<Vec<u8>>),
    Tuple(Rc<Seq>),
    List(Rc<ListCell>),
    Dict(Rc<DictCell>),
    Set(Rc<ListCell>),
    /// A global reference that was not called: `(module, name)`.
    Global(Rc<(String, String)>),
    Object(Rc<RefCell<Object>>),
    /// A persistent id (`BINPERSID`), left for the reader to resolve.
    PersId(Rc<PidCell>),
}

impl Value {
    pub fn tuple(items: Vec<Value>) -> Value {
        Value::Tuple(Rc::new(Seq(items)))
    }
    pub fn list(items: Vec<Value>) -> Value {
        Value::List(Rc::new(ListCell(RefCell::new(items))))
    }
    pub fn set(items: Vec<Value>) -> Value {
        Value::Set(Rc::new(ListCell(RefCell::new(items))))
    }
    pub fn dict(items: Vec<(Value, Value)>) -> Value {
        Value::Dict(Rc::new(DictCell(RefCell::new(items))))
    }
    pub fn pers_id(v: Value) -> Value {
        Value::PersId(Rc::new(PidCell(v)))
    }
}

/// Drop `work` and everything it owns without recursion.
fn teardown(mut work: Vec<Value>) {
    while let Some(v) = work.pop() {
        match v {
            Value::Tuple(rc) => {
                if let Ok(mut s) = Rc::try_unwrap(rc) {
                    work.append(&mut s.0);
                }
            }
            Value::List(rc) | Value::Set(rc) => {
                if let Ok(c) = Rc::try_unwrap(rc) {
                    work.append(&mut c.0.borrow_mut());
                }
            }
            Value::Dict(rc) => {
                if let Ok(c) = Rc::try_unwrap(rc) {
                    for (k, v) in c.0.borrow_mut().drain(..) {
                        work.push(k);
                        work.push(v);
                    }
                }
            }
            Value::Object(rc) => {
                if let Ok(c) = Rc::try_unwrap(rc) {
                    let mut o = c.into_inner();
                    o.take_children(&mut work);
                }
            }
            Value::PersId(rc) => {
                if let Ok(mut p) = Rc::try_unwrap(rc) {
                    work.push(std::mem::replace(&mut p.0, Value::None));
                }
            }
            _ => {}
        }
    }
}

impl Object {
    fn take_children(&mut self, work: &mut Vec<Value>) {
        work.append(&mut self.args);
        work.append(&mut self.list);
        if let Some(s) = self.state.take() {
            work.push(s);
        }
        for (k, v) in self.items.drain(..) {
            work.push(k);
            work.push(v);
        }
    }
}

impl Drop for Seq {
    fn drop(&mut self) {
        if !self.0.is_empty() {
            teardown(std::mem::take(&mut self.0));
        }
    }
}
impl Drop for ListCell {
    fn drop(&mut self) {
        let items = std::mem::take(&mut *self.0.borrow_mut());
        if !items.is_empty() {
            teardown(items);
        }
    }
}
impl Drop for DictCell {
    fn drop(&mut self) {
        let mut work = Vec::new();
        for (k, v) in self.0.borrow_mut().drain(..) {
            work.push(k);
            work.push(v);
        }
        if !work.is_empty() {
            teardown(work);
        }
    }
}
impl Drop for Object {
    fn drop(&mut self) {
        let mut work = Vec::new();
        self.take_children(&mut work);
        if !work.is_empty() {
            teardown(work);
        }
    }
}
impl Drop for PidCell {
    fn drop(&mut self) {
        let v = std::mem::replace(&mut self.0, Value::None);
        teardown(vec![v]);
    }
}

impl Value {
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            Value::Bool(b) => Some(*b as i64),
            _ => None,
        }
    }
    pub fn as_float(&self) -> Option<f64> {
        match self {
            Value::Float(f) => Some(*f),
            Value::Int(i) => Some(*i as f64),
            _ => None,
        }
    }
    pub fn as_bytes(&self) -> Option<Rc<Vec<u8>>> {
        match self {
            Value::Bytes(b) => Some(b.clone()),
            _ => None,
        }
    }
    /// Tuple or list elements.
    pub fn as_seq(&self) -> Option<Vec<Value>> {
        match self {
            Value::Tuple(t) => Some(t.0.clone()),
            Value::List(l) => Some(l.borrow().clone()),
            _ => None,
        }
    }
    /// Key/value pairs of a dict or of a dict-like object (`OrderedDict`, `EasyDict`).
    pub fn dict_items(&self) -> Option<Vec<(Value, Value)>> {
        match self {
            Value::Dict(d) => Some(d.borrow().clone()),
            Value::Object(o) => {
                let o = o.borrow();
                let mut items = o.items.clone();
                // `OrderedDict` pickled by REDUCE may carry its items as a list of pairs in args.
                if let Some(Value::List(pairs)) = o.args.first() {
                    for p in pairs.borrow().iter() {
                        if let Some(kv) = p.as_seq() {
                            if kv.len() == 2 {
                                items.push((kv[0].clone(), kv[1].clone()));
                            }
                        }
                    }
                }
                Some(items)
            }
            _ => None,
        }
    }
    /// Look up a string key in a dict-like value.
    pub fn get(&self, key: &str) -> Option<Value> {
        self.dict_items()?
            .into_iter()
            .find(|(k, _)| k.as_str() == Some(key))
            .map(|(_, v)| v)
    }
    /// `(module, name)` if this is an object made from that global.
    pub fn object_class(&self) -> Option<(String, String)> {
        match self {
            Value::Object(o) => {
                let o = o.borrow();
                Some((o.module.clone(), o.name.clone()))
            }
            _ => None,
        }
    }
    pub fn is_none(&self) -> bool {
        matches!(self, Value::None)
    }
}

//! The values a pickle stream builds. Containers are shared (`Rc<RefCell<…>>`) because pickle
//! memoizes a container *before* filling it and later `GET`s must see the filled container.

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
    Tuple(Rc<Vec<Value>>),
    List(Rc<RefCell<Vec<Value>>>),
    Dict(Rc<RefCell<Vec<(Value, Value)>>>),
    Set(Rc<RefCell<Vec<Value>>>),
    /// A global reference that was not called: `(module, name)`.
    Global(Rc<(String, String)>),
    Object(Rc<RefCell<Object>>),
    /// A persistent id (`BINPERSID`), left for the reader to resolve.
    PersId(Rc<Value>),
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
            Value::Tuple(t) => Some(t.as_ref().clone()),
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
                // `OrderedDict` pickled by REDUCE carries its items as a list of pairs in args.
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

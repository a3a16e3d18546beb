//! The text of a panic payload, for `JoinError` and `TaskFailure` messages: the message of a
//! `panic!` (a `&str` or `String`), else what can be said of a `std::panic::panic_any` value.
//!
//! A payload is a `Box<dyn Any + Send>`: its type name is lost when the panic starts (only the
//! panicking code knew it), so the common payload types are recognised by downcasting, and any
//! other is reported as such.

use std::any::Any;

/// Describes `payload`: the message of a `panic!`, or the type (and value) of a `panic_any`
/// payload of a common type, or a note that the payload is of some other type.
pub(crate) fn describe(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        return (*s).to_owned();
    }
    if let Some(s) = payload.downcast_ref::<String>() {
        return s.clone();
    }
    macro_rules! known {
        ($($t:ty),*) => {
            $(
                if let Some(v) = payload.downcast_ref::<$t>() {
                    return format!("a `panic_any` payload of type `{}`: {v:?}", stringify!($t));
                }
            )*
        };
    }
    known!(
        i8,
        i16,
        i32,
        i64,
        i128,
        isize,
        u8,
        u16,
        u32,
        u64,
        u128,
        usize,
        f32,
        f64,
        bool,
        char,
        std::io::Error,
        Box<dyn std::error::Error + Send + Sync>,
        Box<str>,
        std::borrow::Cow<'static, str>,
        ()
    );
    "a `panic_any` payload that is not a string, of a type not known here (take it with \
     `into_panic` and downcast it)"
        .to_owned()
}

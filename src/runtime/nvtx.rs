//! NVTX ranges around launches (feature `nvtx`): each [`super::Device`]
//! launch pushes a range named after the kernel, so that Nsight Systems
//! shows vyre's launches by name. The NVTX library is loaded at run time
//! (`libnvToolsExt.so.1`, `VYRE_NVTX_LIBRARY` to name another); without
//! it, ranges cost one check.

use std::ffi::{CString, c_char, c_int};
use std::sync::OnceLock;

type Push = unsafe extern "C" fn(*const c_char) -> c_int;
type Pop = unsafe extern "C" fn() -> c_int;

struct Library {
    push: Push,
    pop: Pop,
    // Keeps the functions above loaded.
    _lib: libloading::Library,
}

/// The library's candidate names, in order.
fn candidates() -> Vec<String> {
    let mut names: Vec<String> = std::env::var("VYRE_NVTX_LIBRARY").into_iter().collect();
    names.extend(
        [
            "libnvToolsExt.so.1",
            "libnvToolsExt.so",
            "nvToolsExt64_1.dll",
        ]
        .iter()
        .map(|s| (*s).to_string()),
    );
    names
}

fn library() -> Option<&'static Library> {
    static LIB: OnceLock<Option<Library>> = OnceLock::new();
    LIB.get_or_init(|| {
        candidates().into_iter().find_map(|name| {
            // SAFETY: loading NVTX runs no initialisers with preconditions;
            // the symbols have the C signatures of nvToolsExt.h.
            unsafe {
                let lib = libloading::Library::new(&name).ok()?;
                let push = *lib.get::<Push>(b"nvtxRangePushA\0").ok()?;
                let pop = *lib.get::<Pop>(b"nvtxRangePop\0").ok()?;
                Some(Library {
                    push,
                    pop,
                    _lib: lib,
                })
            }
        })
    })
    .as_ref()
}

/// Whether an NVTX library was found.
#[must_use]
pub fn available() -> bool {
    library().is_some()
}

/// A pushed range, popped when dropped.
#[derive(Debug)]
pub(crate) struct Range(());

impl Range {
    /// Push a range named `name`, when NVTX is there.
    pub(crate) fn push(name: &str) -> Option<Range> {
        let lib = library()?;
        let name = CString::new(name).ok()?;
        // SAFETY: a NUL-terminated string that outlives the call.
        unsafe { (lib.push)(name.as_ptr()) };
        Some(Range(()))
    }
}

impl Drop for Range {
    fn drop(&mut self) {
        if let Some(lib) = library() {
            // SAFETY: pops the range this value pushed.
            unsafe { (lib.pop)() };
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn ranges_nest_with_or_without_the_library() {
        let outer = super::Range::push("outer");
        let inner = super::Range::push("inner");
        assert_eq!(outer.is_some(), super::available());
        assert_eq!(inner.is_some(), super::available());
        assert!(super::Range::push("bad\0name").is_none());
    }
}

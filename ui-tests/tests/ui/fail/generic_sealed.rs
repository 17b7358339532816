use ui_tests::kernels::narrow::ScaleElem;

/// Only the instances' element types implement the trait: it is sealed.
#[derive(Clone, Copy, Debug)]
struct Mine;

impl ScaleElem for Mine {}

fn main() {}

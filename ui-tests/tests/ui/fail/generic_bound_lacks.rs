use spindle::prelude::*;

// `Num` has arithmetic but not the float methods: `sqrt` needs `T: Float`.
#[kernel(mode = "batch")]
fn roots<T: Num>(x: &mut [T]) {
    let i = global_index();
    if i < x.len() {
        x[i] = x[i].sqrt();
    }
}

fn main() {}

use spindle::prelude::*;

// A shared array's length is a const parameter or a constant, not an
// expression of one.
#[kernel(mode = "batch")]
fn twice<const B: usize>(out: &mut [u32]) {
    let tile = shared_array::<u32, { B * 2 }>();
    tile[0] = 1;
    out[0] = tile[0];
}

fn main() {}

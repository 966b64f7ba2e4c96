//! A tiny stack machine, written as ordinary Rust: an enum of opcodes, a
//! struct with methods, `match`, `Option`, `loop` with a value, tuples and
//! a sub-slice. Every GPU thread runs the same program on its own input;
//! the host runs the very same methods as the reference.
//!
//! ```text
//! cargo run --release --example interp
//! ```

use spindle::prelude::*;

/// An opcode.
#[derive(Clone, Copy, Debug, PartialEq, DeviceType)]
#[repr(u32)]
pub enum Op {
    /// Push the instruction's argument.
    Push,
    /// Push the input.
    Input,
    Add,
    Sub,
    Mul,
    /// Duplicate the top of the stack.
    Dup,
    /// Swap the two values on top.
    Swap,
    /// Push a copy of the value under the top.
    Over,
    /// Pop; jump to the argument if the value was zero.
    JumpIfZero,
    /// Jump to the argument.
    Jump,
    Halt,
}

/// One instruction: an opcode and its argument.
#[derive(Clone, Copy, Debug, PartialEq, DeviceType)]
#[repr(C)]
pub struct Instr {
    pub op: Op,
    pub arg: i32,
}

/// Why a run stopped.
#[derive(Clone, Copy, Debug, Default, PartialEq, DeviceType)]
#[repr(u32)]
pub enum Stop {
    #[default]
    Halted,
    /// The stack overflowed or underflowed.
    StackFault,
    /// The step budget ran out.
    OutOfSteps,
}

/// What one run gives: the top of the stack, the steps it took, why it
/// stopped.
#[derive(Clone, Copy, Debug, Default, PartialEq, DeviceType)]
#[repr(C)]
pub struct Outcome {
    pub top: i32,
    pub steps: u32,
    pub stop: Stop,
}

pub const STACK: usize = 8;
pub const MAX_STEPS: u32 = 10_000;

/// A machine's state.
#[derive(Clone, Copy, Debug, Default, PartialEq, DeviceType)]
#[repr(C)]
pub struct Machine {
    pub stack: [i32; STACK],
    pub sp: u32,
    pub pc: u32,
}

#[device]
impl Machine {
    pub fn new() -> Self {
        Machine {
            stack: [0; STACK],
            sp: 0,
            pc: 0,
        }
    }

    pub fn push(&mut self, v: i32) -> bool {
        if self.sp as usize == STACK {
            return false;
        }
        self.stack[self.sp as usize] = v;
        self.sp += 1;
        true
    }

    pub fn pop(&mut self) -> Option<i32> {
        if self.sp == 0 {
            return None;
        }
        self.sp -= 1;
        Some(self.stack[self.sp as usize])
    }

    pub fn pop2(&mut self) -> Option<(i32, i32)> {
        let b = self.pop()?;
        let a = self.pop()?;
        Some((a, b))
    }

    /// Runs one instruction; `Some(stop)` when the run ends.
    pub fn exec(&mut self, i: Instr, input: i32) -> Option<Stop> {
        self.pc += 1;
        let ok = match i.op {
            Op::Push => self.push(i.arg),
            Op::Input => self.push(input),
            Op::Add | Op::Sub | Op::Mul => match self.pop2() {
                Some((a, b)) => self.push(match i.op {
                    Op::Add => a.wrapping_add(b),
                    Op::Sub => a.wrapping_sub(b),
                    _ => a.wrapping_mul(b),
                }),
                None => false,
            },
            Op::Dup => match self.pop() {
                Some(v) => self.push(v) && self.push(v),
                None => false,
            },
            Op::Swap => match self.pop2() {
                Some((a, b)) => self.push(b) && self.push(a),
                None => false,
            },
            Op::Over => match self.pop2() {
                Some((a, b)) => self.push(a) && self.push(b) && self.push(a),
                None => false,
            },
            Op::JumpIfZero => match self.pop() {
                Some(v) => {
                    if v == 0 {
                        self.pc = i.arg as u32;
                    }
                    true
                }
                None => false,
            },
            Op::Jump => {
                self.pc = i.arg as u32;
                true
            }
            Op::Halt => return Some(Stop::Halted),
        };
        if ok {
            None
        } else {
            Some(Stop::StackFault)
        }
    }

    /// The sum of what is left on the stack.
    pub fn stack_sum(&self) -> i32 {
        let mut s = 0i32;
        for v in &self.stack[..self.sp as usize] {
            s = s.wrapping_add(*v);
        }
        s
    }
}

/// Runs `program` on `input` from a fresh machine.
#[device]
pub fn run(program: &[Instr; 16], input: i32) -> Outcome {
    let mut m = Machine::new();
    let mut steps = 0u32;
    let stop = loop {
        if steps == MAX_STEPS {
            break Stop::OutOfSteps;
        }
        let Some(&i) = program.get(m.pc as usize) else {
            break Stop::Halted;
        };
        steps += 1;
        if let Some(stop) = m.exec(i, input) {
            break stop;
        }
    };
    let top = match m.pop() {
        Some(v) => v,
        None => m.stack_sum(),
    };
    Outcome { top, steps, stop }
}

/// Each thread runs the program on `inputs[i]`.
#[kernel(mode = "batch")]
pub fn interpret(program: [Instr; 16], inputs: &[i32], out: &mut [Outcome]) {
    let i = global_index();
    if i < out.len() {
        out[i] = run(&program, inputs[i]);
    }
}

/// `n!` by repeated multiplication, wrapping (a negative `n` never
/// reaches 0: that run ends out of steps).
pub fn factorial_program() -> [Instr; 16] {
    use Op::*;
    let i = |op, arg| Instr { op, arg };
    [
        i(Push, 1),        // 0: acc
        i(Input, 0),       // 1: acc n
        i(Dup, 0),         // 2: acc n n          <- loop
        i(JumpIfZero, 11), // 3: acc n            n == 0: done
        i(Swap, 0),        // 4: n acc
        i(Over, 0),        // 5: n acc n
        i(Mul, 0),         // 6: n acc*n
        i(Swap, 0),        // 7: acc*n n
        i(Push, -1),       // 8: acc*n n -1
        i(Add, 0),         // 9: acc*n n-1
        i(Jump, 2),        // 10
        i(Add, 0),         // 11: acc + 0
        i(Halt, 0),        // 12
        i(Halt, 0),
        i(Halt, 0),
        i(Halt, 0),
    ]
}

#[allow(dead_code)]
fn main() -> spindle::Result<()> {
    let dev = Device::default()?;
    let program = factorial_program();
    let inputs: Vec<i32> = (-3..61).collect();
    let ib = dev.upload(&inputs)?;
    let mut out = dev.zeros::<Outcome>(inputs.len())?;
    interpret::launch(
        &dev,
        Launch::for_elements(inputs.len()),
        program,
        &ib,
        &mut out,
    )?;
    let got = out.to_vec()?;
    let want: Vec<Outcome> = inputs.iter().map(|x| run(&program, *x)).collect();
    let same = got.iter().zip(&want).filter(|(a, b)| a == b).count();
    println!(
        "{} runs of a {}-instruction program on {}: {same}/{} identical to the Rust \
         reference; 5! = {} in {} steps",
        inputs.len(),
        program.len(),
        dev.name(),
        inputs.len(),
        got[8].top,
        got[8].steps
    );
    Ok(())
}

//! A ring actor: a bank whose balances live in GPU memory. Each message is a
//! transfer; the reply is a receipt. One launch serves every message.
//!
//! ```text
//! cargo run --release --example ring_bank
//! ```

use spindle::prelude::*;

pub const ACCOUNTS: usize = 16;

/// The actor's state: kept in device memory between messages.
#[derive(Clone, Copy, Debug, Default, PartialEq, DeviceType)]
#[repr(C)]
pub struct Bank {
    pub balances: [i64; ACCOUNTS],
    pub transfers: u32,
    pub refused: u32,
}

/// Move `amount` from account `from` to account `to`.
#[derive(Clone, Copy, Debug, PartialEq, DeviceType)]
#[repr(C)]
pub struct Transfer {
    pub from: u32,
    pub to: u32,
    pub amount: i64,
}

/// What happened to one transfer.
#[derive(Clone, Copy, Debug, Default, PartialEq, DeviceType)]
#[repr(C)]
pub struct Receipt {
    /// 1 when the transfer was applied, 0 when refused (insufficient funds).
    pub applied: u32,
    pub sequence: u32,
    pub from_balance: i64,
}

/// Applies one transfer; refuses overdrafts. Account numbers out of range
/// are a bounds fault that stops the actor (and every later call reports it).
#[kernel(mode = "ring")]
pub fn bank(state: &mut Bank, msg: Transfer) -> Receipt {
    let from = msg.from as usize;
    let to = msg.to as usize;
    let mut applied = 0u32;
    if msg.amount >= 0 && state.balances[from] >= msg.amount {
        state.balances[from] -= msg.amount;
        state.balances[to] += msg.amount;
        state.transfers += 1;
        applied = 1;
    } else {
        state.refused += 1;
    }
    Receipt {
        applied,
        sequence: state.transfers + state.refused,
        from_balance: state.balances[from],
    }
}

/// A bank with `amount` in every account.
pub fn opening(amount: i64) -> Bank {
    Bank {
        balances: [amount; ACCOUNTS],
        ..Default::default()
    }
}

#[allow(dead_code)]
fn main() -> spindle::Result<()> {
    let dev = Device::default()?;
    let mut actor = bank::spawn(&dev, opening(1_000))?;

    let receipt = actor.call(Transfer {
        from: 0,
        to: 1,
        amount: 250,
    })?;
    println!("first transfer on {}: {receipt:?}", dev.name());

    // Pipelined: send many, then collect the replies, which come in send order.
    let n = 10_000;
    let mut reference = opening(1_000);
    bank(
        &mut reference,
        Transfer {
            from: 0,
            to: 1,
            amount: 250,
        },
    );
    let mut expected = Vec::with_capacity(n);
    for i in 0..n as u32 {
        let t = Transfer {
            from: i % ACCOUNTS as u32,
            to: (i * 7 + 3) % ACCOUNTS as u32,
            amount: (i % 50) as i64 * 10,
        };
        actor.send(t)?;
        expected.push(bank(&mut reference, t)); // the handler is plain Rust on the host too
    }
    let mut same = 0;
    for want in &expected {
        if actor.recv()? == *want {
            same += 1;
        }
    }
    let final_state = actor.shutdown()?;
    let total: i64 = final_state.balances.iter().sum();
    println!(
        "{n} pipelined transfers: {same}/{n} receipts match the host reference; \
         {} applied, {} refused, money conserved: {}; final state matches: {}",
        final_state.transfers,
        final_state.refused,
        total == 1_000 * ACCOUNTS as i64,
        final_state == reference
    );
    Ok(())
}

//! Routing completions: each completion's `user_data` names the op kind and the connection or
//! listener it belongs to; receives hand their provided buffer to the connection (or recycle
//! it), sends advance the connection's queue, accepts register the new socket.
//!
//! Not here: submitting and parking (reactor.rs), the op table itself (driver.rs).

use std::os::fd::{FromRawFd, OwnedFd};

use io_uring::cqueue;

use super::*;

impl State {
    pub(super) fn start_send(&mut self, id: usize) {
        let Some(conn) = self.conns.get_mut(id) else {
            return;
        };
        conn.tx_dirty = false;
        if conn.tx_inflight || conn.tx_err.is_some() {
            return;
        }
        if conn.tx_off >= conn.tx_buf.len() {
            if conn.tx_pending.is_empty() {
                return;
            }
            conn.tx_buf.clear();
            conn.tx_off = 0;
            std::mem::swap(&mut conn.tx_buf, &mut conn.tx_pending);
        }
        let rest = &conn.tx_buf[conn.tx_off..];
        let (ptr, len) = (rest.as_ptr(), rest.len() as u32);
        conn.tx_inflight = true;
        let entry = with_target!(conn.target, |t| opcode::Send::new(t, ptr, len)
            .flags(libc::MSG_NOSIGNAL)
            .build())
        .user_data(ud(K_SEND, id));
        self.stats.sends += 1;
        self.push(entry);
    }

    pub(super) fn on_recv(&mut self, id: usize, res: i32, flags: u32) {
        let more = cqueue::more(flags);
        let Some(conn) = self.conns.get_mut(id) else {
            if let Some(bid) = cqueue::buffer_select(flags) {
                if self.bufs.take(bid) {
                    self.bufs.recycle(bid);
                }
            }
            return;
        };
        if let Some(bid) = cqueue::buffer_select(flags) {
            if self.bufs.take(bid) {
                if res > 0 && conn.attached {
                    self.stats.recvs += 1;
                    self.stats.recv_bytes += res as u64;
                    conn.rx.push_back(Chunk {
                        bid,
                        off: 0,
                        len: res as u32,
                    });
                } else {
                    self.bufs.recycle(bid);
                }
            }
        }
        // A slow reader holding too many buffers: pause its recv (re-armed when it drains).
        let pause = more
            && conn.attached
            && conn.rx_state == Rx::Armed
            && conn.rx.len() >= self.max_rx_buffers;
        if pause {
            conn.rx_state = Rx::Cancelling;
        }
        let mut starved = false;
        if res == 0 {
            conn.eof = true;
        } else if res < 0 {
            match -res {
                libc::ENOBUFS => {
                    self.stats.enobufs += 1;
                    starved = conn.rx_state == Rx::Armed && conn.attached && !more;
                }
                libc::ECANCELED => {}
                e => {
                    if conn.rx_state != Rx::Cancelling {
                        conn.rx_err = Some(e);
                    }
                }
            }
        }
        if !more {
            if starved {
                conn.rx_state = Rx::Starved;
                self.starved.push_back(id);
            } else {
                conn.rx_state = Rx::Idle;
            }
        }
        if let Some(waker) = conn.read_waker.take() {
            self.wake_list.push(waker);
        }
        let finish = !more && !conn.attached;
        if pause {
            self.stats.rx_pauses += 1;
            self.cancel(ud(K_RECV, id));
        }
        if finish {
            self.maybe_finish(id);
        }
    }

    pub(super) fn on_send(&mut self, id: usize, res: i32) {
        let Some(conn) = self.conns.get_mut(id) else {
            return;
        };
        conn.tx_inflight = false;
        if res <= 0 {
            conn.tx_err = Some(if res == 0 { libc::EPIPE } else { -res });
            conn.tx_pending.clear();
        } else {
            self.stats.send_bytes += res as u64;
            conn.tx_off += res as usize;
        }
        if let Some(waker) = conn.write_waker.take() {
            self.wake_list.push(waker);
        }
        let more_to_send = conn.tx_err.is_none()
            && (conn.tx_off < conn.tx_buf.len() || !conn.tx_pending.is_empty());
        if more_to_send {
            // Partial send or bytes queued meanwhile: go again now (ordered: one send in flight).
            self.start_send(id);
        } else if !conn.attached {
            self.maybe_finish(id);
        }
    }

    pub(super) fn on_accept(&mut self, id: usize, res: i32, flags: u32) {
        let more = cqueue::more(flags);
        let accepted = if res >= 0 {
            self.stats.accepts += 1;
            // SAFETY: a non-negative accept result is a new fd the kernel just installed for us.
            Some(unsafe { OwnedFd::from_raw_fd(res) })
        } else {
            None
        };
        let Some(lst) = self.lsts.get_mut(id) else {
            return;
        };
        if lst.attached {
            match accepted {
                Some(fd) => lst.queue.push_back(Ok(fd)),
                None if res != -libc::ECANCELED => lst.queue.push_back(Err(-res)),
                None => {}
            }
            if let Some(waker) = lst.waker.take() {
                self.wake_list.push(waker);
            }
        }
        if !more {
            lst.armed = false;
            if !lst.attached {
                self.finish_listener(id);
            }
        }
    }

    pub(super) fn on_close_slot(&mut self, slot: u32) {
        self.stats.fixed_slots_used -= 1;
        self.free_slots.push(slot);
    }

    pub(super) fn dispatch(&mut self, user_data: u64, res: i32, flags: u32) {
        let id = (user_data >> 8) as usize;
        match user_data & 0xff {
            K_RECV => self.on_recv(id, res, flags),
            K_SEND => self.on_send(id, res),
            K_ACCEPT => self.on_accept(id, res, flags),
            K_CLOSE_SLOT => self.on_close_slot(id as u32),
            _ => {}
        }
    }
}

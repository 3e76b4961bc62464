"""CoalescingTransport: one send per connection per loop turn, in order, nothing lost at close."""
import asyncio

from petcd.stages.api.http.coalesce import CoalescingTransport


class FakeTransport:
    def __init__(self):
        self.writes, self.closed = [], False

    def write(self, data):
        assert not self.closed
        self.writes.append(bytes(data))

    def close(self):
        self.closed = True

    def is_closing(self):
        return self.closed

    def get_write_buffer_size(self):
        return 0

    def get_extra_info(self, name, default=None):
        return {"peername": ("127.0.0.1", 1)}.get(name, default)


def run(body):
    async def main():
        loop = asyncio.get_running_loop()
        fake = FakeTransport()
        body(CoalescingTransport(fake, loop))
        await asyncio.sleep(0)
        return fake
    return asyncio.run(main())


def test_the_writes_of_one_turn_leave_as_one_send_in_order():
    fake = run(lambda t: (t.write(b"HTTP/1.1 200 OK\r\n\r\n"), t.write(b"{}"), t.write(b"x")))
    assert fake.writes == [b"HTTP/1.1 200 OK\r\n\r\n{}x"]


def test_close_sends_what_is_pending_first():
    fake = run(lambda t: (t.write(b"head"), t.write(b"body"), t.close()))
    assert fake.writes == [b"headbody"] and fake.closed


def test_pending_bytes_count_in_the_write_buffer_and_other_calls_pass_through():
    def body(t):
        t.write(b"12345")
        assert t.get_write_buffer_size() == 5
        assert t.get_extra_info("peername") == ("127.0.0.1", 1)
        assert not t.is_closing()
    assert run(body).writes == [b"12345"]


def test_empty_writes_send_nothing():
    assert run(lambda t: t.write(b"")).writes == []

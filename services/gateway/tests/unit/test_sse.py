from gateway.sse import event


def test_an_event_is_framed_with_its_name_and_compact_json():
    assert event("token", {"token": "a", "index": 0}) == b'event: token\ndata: {"token":"a","index":0}\n\n'
    assert event("error", {"error": {"code": "X", "message": "m", "details": {}}}).startswith(b'event: error\ndata: {"error":')

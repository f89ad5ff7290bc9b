import grpc
import pytest

from chatbot_common.errors import ERRORS, PROVIDER_ERRORS, AppError, ErrorCode, ProviderErrorKind, from_rpc_error, grpc_trailers
from chatbot_common.ids import is_valid_id, new_id
from chatbot_common.logging import scrub


class FakeRpcError(grpc.RpcError):
    """Shaped like grpc.aio.AioRpcError, which cannot be built outside a call."""

    def __init__(self, status, details, trailers=()):
        self._status, self._details, self._trailers = status, details, trailers

    def code(self):
        return self._status

    def details(self):
        return self._details

    def trailing_metadata(self):
        return self._trailers


def test_every_code_has_one_row_with_a_4xx_or_5xx():
    assert set(ERRORS) == set(ErrorCode)
    for spec in ERRORS.values():
        assert 400 <= spec.http_status < 600


def test_every_provider_error_kind_maps_to_a_code():
    assert set(PROVIDER_ERRORS) == set(ProviderErrorKind)
    assert ERRORS[PROVIDER_ERRORS[ProviderErrorKind.RATE_LIMITED]].http_status == 429
    assert ERRORS[PROVIDER_ERRORS[ProviderErrorKind.TIMEOUT]].http_status == 504
    assert ERRORS[PROVIDER_ERRORS[ProviderErrorKind.AUTHENTICATION]].http_status == 502


@pytest.mark.parametrize("code", list(ErrorCode))
def test_app_error_survives_a_grpc_hop(code):
    original = AppError(code, "went wrong", {"field": "x"})
    exc = FakeRpcError(original.spec.grpc_status, original.message, grpc_trailers(original))
    back = from_rpc_error(exc, "peer")
    assert (back.code, back.message, back.details) == (code, "went wrong", {"field": "x"})


def test_bare_grpc_status_maps_without_leaking_peer_text():
    back = from_rpc_error(FakeRpcError(grpc.StatusCode.INTERNAL, "Traceback: secret internals"), "conversation")
    assert back.code is ErrorCode.INTERNAL_ERROR and "Traceback" not in back.message
    assert from_rpc_error(FakeRpcError(grpc.StatusCode.UNAVAILABLE, "x"), "rag").code is ErrorCode.SERVICE_UNAVAILABLE


def test_ids_are_prefixed_and_validated():
    value = new_id("conv")
    assert is_valid_id(value, "conv")
    assert not is_valid_id(value, "msg")
    assert not is_valid_id("conv_../../etc", "conv")
    assert new_id("conv") != value


def test_scrub_removes_secrets():
    line = "auth Bearer abcdefghijklmnop key sk-proj-ABCDEFGHIJKL password=hunter22 ok"
    out = scrub(line)
    for secret in ("abcdefghijklmnop", "ABCDEFGHIJKL", "hunter22"):
        assert secret not in out
    assert "ok" in out

"""The rag service's settings include the embedding model's (EMBEDDING_*), so a bad value there
stops the service at start, before any model loads, with the variable named."""

from rag.settings import RagSettings


def test_the_embedding_settings_are_read_with_the_services(monkeypatch, tmp_path):
    monkeypatch.setenv("EMBEDDING_CACHE_DIR", str(tmp_path / "models"))
    monkeypatch.setenv("EMBEDDING_BACKEND", "onnx")
    embedding = RagSettings().embedding
    assert (embedding.cache_dir, embedding.backend) == (tmp_path / "models", "onnx")


def test_a_bad_value_stops_the_service_naming_the_variable(monkeypatch, refused_configuration):
    monkeypatch.setenv("EMBEDDING_BACKEND", "tensorflow")
    assert refused_configuration(RagSettings) == [
        "invalid configuration: EMBEDDING_BACKEND: Input should be 'onnx-int8', 'onnx' or 'torch'"]
    monkeypatch.delenv("EMBEDDING_BACKEND")
    monkeypatch.setenv("RAG_TOP_K", "20")
    monkeypatch.setenv("RAG_MAX_TOP_K", "10")
    assert refused_configuration(RagSettings) == ["invalid configuration: RAG_TOP_K must not exceed RAG_MAX_TOP_K"]

"""Payload encryption: round trip, nothing in the clear, refusals, rotation, key files."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from pydantic import BaseModel
from temporalio.api.common.v1 import Payload
from temporalio.converter import DataConverter

from runtime.codec import (
    ENCODING,
    KEY_ID_METADATA,
    EncryptionCodec,
    InsecurePayloadKeyFile,
    PayloadDecryptionError,
    PayloadKey,
    PayloadKeyFileError,
    PayloadKeyring,
    data_converter,
    keyring_from_settings,
    load_keyring,
    write_key_file,
)
from runtime.settings import Settings

SECRET = "Ukroboronprom-SECRET-42"


class Case(BaseModel):
    case_id: str
    end_user: str
    quantity: int


def plain(text: str) -> Payload:
    return Payload(metadata={"encoding": b"json/plain"}, data=f'"{text}"'.encode())


def codec_for(*keys: PayloadKey) -> EncryptionCodec:
    return EncryptionCodec(PayloadKeyring(keys))


def settings_for(tmp_path: Path, keys_file: Path | None = None) -> Settings:
    return Settings(_env_file=None, data_dir=tmp_path, payload_keys=keys_file)


async def test_round_trip() -> None:
    codec = codec_for(PayloadKey.generate("k1"))
    original = [plain(SECRET), Payload(metadata={"encoding": b"binary/null"}), plain("")]
    encoded = await codec.encode(original)
    assert [p.metadata["encoding"] for p in encoded] == [ENCODING] * 3
    assert await codec.decode(encoded) == original


async def test_round_trip_through_the_data_converter(tmp_path: Path) -> None:
    converter = data_converter(settings_for(tmp_path))
    case = Case(case_id="UA-2025-0001", end_user=SECRET, quantity=12)
    payloads = await converter.encode([case])
    assert await converter.decode(payloads, [Case]) == [case]


async def test_nothing_in_the_clear() -> None:
    codec = codec_for(PayloadKey.generate("k1"))
    (encoded,) = await codec.encode([plain(SECRET)])
    assert dict(encoded.metadata) == {"encoding": ENCODING, KEY_ID_METADATA: b"k1"}
    serialized = encoded.SerializeToString()
    assert SECRET.encode() not in serialized
    assert b"json/plain" not in serialized  # the inner metadata is sealed too


async def test_fresh_nonce_per_payload() -> None:
    codec = codec_for(PayloadKey.generate("k1"))
    a, b = await codec.encode([plain(SECRET), plain(SECRET)])
    assert a.data[:12] != b.data[:12]
    assert a.data != b.data


async def test_unknown_key_id_is_refused() -> None:
    (encoded,) = await codec_for(PayloadKey.generate("k1")).encode([plain(SECRET)])
    with pytest.raises(PayloadDecryptionError, match="unknown key id 'k1'"):
        await codec_for(PayloadKey.generate("k2")).decode([encoded])


async def test_wrong_key_under_the_same_id_is_refused() -> None:
    (encoded,) = await codec_for(PayloadKey.generate("k1")).encode([plain(SECRET)])
    with pytest.raises(PayloadDecryptionError, match="fails authentication under key 'k1'"):
        await codec_for(PayloadKey.generate("k1")).decode([encoded])


async def test_relabelled_key_id_is_refused() -> None:
    k1, k2 = PayloadKey.generate("k1"), PayloadKey("k2", PayloadKey.generate("x").secret)
    codec = codec_for(k1, k2)
    (encoded,) = await codec.encode([plain(SECRET)])
    encoded.metadata[KEY_ID_METADATA] = b"k2"
    with pytest.raises(PayloadDecryptionError, match="fails authentication"):
        await codec.decode([encoded])


@pytest.mark.parametrize("position", [0, 12, -1])
async def test_tampered_ciphertext_is_refused(position: int) -> None:
    codec = codec_for(PayloadKey.generate("k1"))
    (encoded,) = await codec.encode([plain(SECRET)])
    data = bytearray(encoded.data)
    data[position] ^= 0x01
    encoded.data = bytes(data)
    with pytest.raises(PayloadDecryptionError, match="fails authentication"):
        await codec.decode([encoded])


async def test_truncated_or_unlabelled_payload_is_refused() -> None:
    codec = codec_for(PayloadKey.generate("k1"))
    (encoded,) = await codec.encode([plain(SECRET)])
    short = Payload(metadata=dict(encoded.metadata), data=encoded.data[:20])
    with pytest.raises(PayloadDecryptionError, match="too short"):
        await codec.decode([short])
    del encoded.metadata[KEY_ID_METADATA]
    with pytest.raises(PayloadDecryptionError, match="no 'encryption-key-id'"):
        await codec.decode([encoded])


async def test_unencrypted_payload_is_refused_when_required() -> None:
    codec = codec_for(PayloadKey.generate("k1"))
    with pytest.raises(PayloadDecryptionError, match="not encrypted"):
        await codec.decode([plain(SECRET)])
    lenient = EncryptionCodec(codec.keyring, require_encryption=False)
    assert await lenient.decode([plain(SECRET)]) == [plain(SECRET)]


async def test_rotation(tmp_path: Path) -> None:
    old, new = PayloadKey.generate("k1"), PayloadKey.generate("k2")
    (under_old,) = await codec_for(old).encode([plain(SECRET)])

    keys_file = tmp_path / "payload.keys"
    write_key_file(keys_file, [new, old])
    rotated = EncryptionCodec(load_keyring(keys_file))
    assert rotated.keyring.current_key_id == "k2"
    assert await rotated.decode([under_old]) == [plain(SECRET)]
    (under_new,) = await rotated.encode([plain(SECRET)])
    assert under_new.metadata[KEY_ID_METADATA] == b"k2"
    with pytest.raises(PayloadDecryptionError, match="unknown key id 'k2'"):
        await codec_for(old).decode([under_new])


def test_key_file_format(tmp_path: Path) -> None:
    k1, k2 = PayloadKey.generate("k1"), PayloadKey.generate("k2")
    text = f"# comment\n\n  {k2.line()}  \n{k1.line()}\n"
    ring = PayloadKeyring.parse(text)
    assert ring.key_ids == ("k2", "k1")
    assert k1.line().split()[1] not in repr(k1)
    for bad, message in [
        ("", "no keys"),
        ("k1\n", "want '<key-id> <base64 key>'"),
        ("k1 not*base64\n", "not valid base64"),
        ("k1 AAAA\n", "3 bytes, want 32"),
        (f"{k1.line()}\n{k1.line()}\n", "appears twice"),
        (f"bad/id {k1.line().split()[1]}\n", "key id 'bad/id'"),
    ]:
        with pytest.raises(PayloadKeyFileError, match=message):
            PayloadKeyring.parse(bad)


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o660, 0o644])
def test_group_or_other_readable_key_file_is_refused(tmp_path: Path, mode: int) -> None:
    keys_file = tmp_path / "payload.keys"
    write_key_file(keys_file, [PayloadKey.generate("k1")])
    keys_file.chmod(mode)
    with pytest.raises(InsecurePayloadKeyFile, match=f"mode {mode:04o}.*chmod 600"):
        load_keyring(keys_file)
    with pytest.raises(InsecurePayloadKeyFile):
        keyring_from_settings(settings_for(tmp_path, keys_file))


def test_owner_only_modes_are_accepted(tmp_path: Path) -> None:
    keys_file = tmp_path / "payload.keys"
    write_key_file(keys_file, [PayloadKey.generate("k1")])
    keys_file.chmod(0o400)
    assert load_keyring(keys_file).key_ids == ("k1",)


def test_default_key_file_is_generated_once_with_mode_0600(tmp_path: Path) -> None:
    data_dir = tmp_path / "var"
    settings = settings_for(data_dir)
    first = keyring_from_settings(settings)
    path = data_dir / "payload.keys"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in data_dir.iterdir()] == ["payload.keys"]  # no temporary left
    assert keyring_from_settings(settings).key_ids == first.key_ids


def test_configured_key_file_must_exist(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.keys"
    with pytest.raises(PayloadKeyFileError, match="not found"):
        keyring_from_settings(settings_for(tmp_path, missing))
    assert not missing.exists()


def test_key_file_is_never_overwritten(tmp_path: Path) -> None:
    keys_file = tmp_path / "payload.keys"
    write_key_file(keys_file, [PayloadKey.generate("k1")])
    with pytest.raises(FileExistsError):
        write_key_file(keys_file, [PayloadKey.generate("k2")])
    assert load_keyring(keys_file).key_ids == ("k1",)
    assert os.listdir(tmp_path) == ["payload.keys"]


async def test_failure_messages_are_encrypted(tmp_path: Path) -> None:
    from temporalio.api.failure.v1 import Failure
    from temporalio.exceptions import ApplicationError

    converter: DataConverter = data_converter(settings_for(tmp_path))
    failure = Failure()
    await converter.encode_failure(ApplicationError(f"end user {SECRET} is sanctioned"), failure)
    assert SECRET.encode() not in failure.SerializeToString()
    error = await converter.decode_failure(failure)
    assert SECRET in str(error)

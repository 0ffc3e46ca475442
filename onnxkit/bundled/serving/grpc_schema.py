"""The Open Inference Protocol's gRPC messages, built at import from the compiled schema.

Generated from open_inference_grpc.proto (kserve/open-inference-protocol at d49cc23,
Apache-2.0; vendored in tests/bundled/serving/specs/) by grpcio-tools 1.85.1 (libprotoc
35.1)::

    python -m grpc_tools.protoc -I. --descriptor_set_out=oip.desc open_inference_grpc.proto

SCHEMA is that file's serialized FileDescriptorProto. Rather than committing the
usual _pb2 modules, whose gencode refuses any protobuf runtime older than the protoc that
wrote them (and whose _pb2_grpc refuses older grpcio), the messages are made here in a
private descriptor pool: any protobuf 4.21+ runtime works, and they never collide with
another copy of the same .proto (tritonclient's, Ray's) in the default pool; tests/serve/
test_grpc.py calls them with tritonclient.grpc.
"""

from __future__ import annotations

import base64
import functools
from typing import Any

PACKAGE = "inference"
SERVICE = "inference.GRPCInferenceService"
SCHEMA = base64.b64decode(
    "ChlvcGVuX2luZmVyZW5jZV9ncnBjLnByb3RvEglpbmZlcmVuY2UiEwoRU2VydmVyTGl2ZVJlcXVlc3QiKAoSU2VydmVy"
    "TGl2ZVJlc3BvbnNlEhIKBGxpdmUYASABKAhSBGxpdmUiFAoSU2VydmVyUmVhZHlSZXF1ZXN0IisKE1NlcnZlclJlYWR5"
    "UmVzcG9uc2USFAoFcmVhZHkYASABKAhSBXJlYWR5IkEKEU1vZGVsUmVhZHlSZXF1ZXN0EhIKBG5hbWUYASABKAlSBG5h"
    "bWUSGAoHdmVyc2lvbhgCIAEoCVIHdmVyc2lvbiIqChJNb2RlbFJlYWR5UmVzcG9uc2USFAoFcmVhZHkYASABKAhSBXJl"
    "YWR5IhcKFVNlcnZlck1ldGFkYXRhUmVxdWVzdCJmChZTZXJ2ZXJNZXRhZGF0YVJlc3BvbnNlEhIKBG5hbWUYASABKAlS"
    "BG5hbWUSGAoHdmVyc2lvbhgCIAEoCVIHdmVyc2lvbhIeCgpleHRlbnNpb25zGAMgAygJUgpleHRlbnNpb25zIkQKFE1v"
    "ZGVsTWV0YWRhdGFSZXF1ZXN0EhIKBG5hbWUYASABKAlSBG5hbWUSGAoHdmVyc2lvbhgCIAEoCVIHdmVyc2lvbiLgAwoV"
    "TW9kZWxNZXRhZGF0YVJlc3BvbnNlEhIKBG5hbWUYASABKAlSBG5hbWUSGgoIdmVyc2lvbnMYAiADKAlSCHZlcnNpb25z"
    "EhoKCHBsYXRmb3JtGAMgASgJUghwbGF0Zm9ybRJHCgZpbnB1dHMYBCADKAsyLy5pbmZlcmVuY2UuTW9kZWxNZXRhZGF0"
    "YVJlc3BvbnNlLlRlbnNvck1ldGFkYXRhUgZpbnB1dHMSSQoHb3V0cHV0cxgFIAMoCzIvLmluZmVyZW5jZS5Nb2RlbE1l"
    "dGFkYXRhUmVzcG9uc2UuVGVuc29yTWV0YWRhdGFSB291dHB1dHMSUAoKcHJvcGVydGllcxgGIAMoCzIwLmluZmVyZW5j"
    "ZS5Nb2RlbE1ldGFkYXRhUmVzcG9uc2UuUHJvcGVydGllc0VudHJ5Ugpwcm9wZXJ0aWVzGlYKDlRlbnNvck1ldGFkYXRh"
    "EhIKBG5hbWUYASABKAlSBG5hbWUSGgoIZGF0YXR5cGUYAiABKAlSCGRhdGF0eXBlEhQKBXNoYXBlGAMgAygDUgVzaGFw"
    "ZRo9Cg9Qcm9wZXJ0aWVzRW50cnkSEAoDa2V5GAEgASgJUgNrZXkSFAoFdmFsdWUYAiABKAlSBXZhbHVlOgI4ASKdCAoR"
    "TW9kZWxJbmZlclJlcXVlc3QSHQoKbW9kZWxfbmFtZRgBIAEoCVIJbW9kZWxOYW1lEiMKDW1vZGVsX3ZlcnNpb24YAiAB"
    "KAlSDG1vZGVsVmVyc2lvbhIOCgJpZBgDIAEoCVICaWQSTAoKcGFyYW1ldGVycxgEIAMoCzIsLmluZmVyZW5jZS5Nb2Rl"
    "bEluZmVyUmVxdWVzdC5QYXJhbWV0ZXJzRW50cnlSCnBhcmFtZXRlcnMSRQoGaW5wdXRzGAUgAygLMi0uaW5mZXJlbmNl"
    "Lk1vZGVsSW5mZXJSZXF1ZXN0LkluZmVySW5wdXRUZW5zb3JSBmlucHV0cxJRCgdvdXRwdXRzGAYgAygLMjcuaW5mZXJl"
    "bmNlLk1vZGVsSW5mZXJSZXF1ZXN0LkluZmVyUmVxdWVzdGVkT3V0cHV0VGVuc29yUgdvdXRwdXRzEiwKEnJhd19pbnB1"
    "dF9jb250ZW50cxgHIAMoDFIQcmF3SW5wdXRDb250ZW50cxrNAgoQSW5mZXJJbnB1dFRlbnNvchISCgRuYW1lGAEgASgJ"
    "UgRuYW1lEhoKCGRhdGF0eXBlGAIgASgJUghkYXRhdHlwZRIUCgVzaGFwZRgDIAMoA1IFc2hhcGUSXQoKcGFyYW1ldGVy"
    "cxgEIAMoCzI9LmluZmVyZW5jZS5Nb2RlbEluZmVyUmVxdWVzdC5JbmZlcklucHV0VGVuc29yLlBhcmFtZXRlcnNFbnRy"
    "eVIKcGFyYW1ldGVycxI6Cghjb250ZW50cxgFIAEoCzIeLmluZmVyZW5jZS5JbmZlclRlbnNvckNvbnRlbnRzUghjb250"
    "ZW50cxpYCg9QYXJhbWV0ZXJzRW50cnkSEAoDa2V5GAEgASgJUgNrZXkSLwoFdmFsdWUYAiABKAsyGS5pbmZlcmVuY2Uu"
    "SW5mZXJQYXJhbWV0ZXJSBXZhbHVlOgI4ARrzAQoaSW5mZXJSZXF1ZXN0ZWRPdXRwdXRUZW5zb3ISEgoEbmFtZRgBIAEo"
    "CVIEbmFtZRJnCgpwYXJhbWV0ZXJzGAIgAygLMkcuaW5mZXJlbmNlLk1vZGVsSW5mZXJSZXF1ZXN0LkluZmVyUmVxdWVz"
    "dGVkT3V0cHV0VGVuc29yLlBhcmFtZXRlcnNFbnRyeVIKcGFyYW1ldGVycxpYCg9QYXJhbWV0ZXJzRW50cnkSEAoDa2V5"
    "GAEgASgJUgNrZXkSLwoFdmFsdWUYAiABKAsyGS5pbmZlcmVuY2UuSW5mZXJQYXJhbWV0ZXJSBXZhbHVlOgI4ARpYCg9Q"
    "YXJhbWV0ZXJzRW50cnkSEAoDa2V5GAEgASgJUgNrZXkSLwoFdmFsdWUYAiABKAsyGS5pbmZlcmVuY2UuSW5mZXJQYXJh"
    "bWV0ZXJSBXZhbHVlOgI4ASLfBQoSTW9kZWxJbmZlclJlc3BvbnNlEh0KCm1vZGVsX25hbWUYASABKAlSCW1vZGVsTmFt"
    "ZRIjCg1tb2RlbF92ZXJzaW9uGAIgASgJUgxtb2RlbFZlcnNpb24SDgoCaWQYAyABKAlSAmlkEk0KCnBhcmFtZXRlcnMY"
    "BCADKAsyLS5pbmZlcmVuY2UuTW9kZWxJbmZlclJlc3BvbnNlLlBhcmFtZXRlcnNFbnRyeVIKcGFyYW1ldGVycxJJCgdv"
    "dXRwdXRzGAUgAygLMi8uaW5mZXJlbmNlLk1vZGVsSW5mZXJSZXNwb25zZS5JbmZlck91dHB1dFRlbnNvclIHb3V0cHV0"
    "cxIuChNyYXdfb3V0cHV0X2NvbnRlbnRzGAYgAygMUhFyYXdPdXRwdXRDb250ZW50cxrQAgoRSW5mZXJPdXRwdXRUZW5z"
    "b3ISEgoEbmFtZRgBIAEoCVIEbmFtZRIaCghkYXRhdHlwZRgCIAEoCVIIZGF0YXR5cGUSFAoFc2hhcGUYAyADKANSBXNo"
    "YXBlEl8KCnBhcmFtZXRlcnMYBCADKAsyPy5pbmZlcmVuY2UuTW9kZWxJbmZlclJlc3BvbnNlLkluZmVyT3V0cHV0VGVu"
    "c29yLlBhcmFtZXRlcnNFbnRyeVIKcGFyYW1ldGVycxI6Cghjb250ZW50cxgFIAEoCzIeLmluZmVyZW5jZS5JbmZlclRl"
    "bnNvckNvbnRlbnRzUghjb250ZW50cxpYCg9QYXJhbWV0ZXJzRW50cnkSEAoDa2V5GAEgASgJUgNrZXkSLwoFdmFsdWUY"
    "AiABKAsyGS5pbmZlcmVuY2UuSW5mZXJQYXJhbWV0ZXJSBXZhbHVlOgI4ARpYCg9QYXJhbWV0ZXJzRW50cnkSEAoDa2V5"
    "GAEgASgJUgNrZXkSLwoFdmFsdWUYAiABKAsyGS5pbmZlcmVuY2UuSW5mZXJQYXJhbWV0ZXJSBXZhbHVlOgI4ASLXAQoO"
    "SW5mZXJQYXJhbWV0ZXISHwoKYm9vbF9wYXJhbRgBIAEoCEgAUglib29sUGFyYW0SIQoLaW50NjRfcGFyYW0YAiABKANI"
    "AFIKaW50NjRQYXJhbRIjCgxzdHJpbmdfcGFyYW0YAyABKAlIAFILc3RyaW5nUGFyYW0SIwoMZG91YmxlX3BhcmFtGAQg"
    "ASgBSABSC2RvdWJsZVBhcmFtEiMKDHVpbnQ2NF9wYXJhbRgFIAEoBEgAUgt1aW50NjRQYXJhbUISChBwYXJhbWV0ZXJf"
    "Y2hvaWNlIsMCChNJbmZlclRlbnNvckNvbnRlbnRzEiMKDWJvb2xfY29udGVudHMYASADKAhSDGJvb2xDb250ZW50cxIh"
    "CgxpbnRfY29udGVudHMYAiADKAVSC2ludENvbnRlbnRzEiUKDmludDY0X2NvbnRlbnRzGAMgAygDUg1pbnQ2NENvbnRl"
    "bnRzEiMKDXVpbnRfY29udGVudHMYBCADKA1SDHVpbnRDb250ZW50cxInCg91aW50NjRfY29udGVudHMYBSADKARSDnVp"
    "bnQ2NENvbnRlbnRzEiMKDWZwMzJfY29udGVudHMYBiADKAJSDGZwMzJDb250ZW50cxIjCg1mcDY0X2NvbnRlbnRzGAcg"
    "AygBUgxmcDY0Q29udGVudHMSJQoOYnl0ZXNfY29udGVudHMYCCADKAxSDWJ5dGVzQ29udGVudHMy/AMKFEdSUENJbmZl"
    "cmVuY2VTZXJ2aWNlEksKClNlcnZlckxpdmUSHC5pbmZlcmVuY2UuU2VydmVyTGl2ZVJlcXVlc3QaHS5pbmZlcmVuY2Uu"
    "U2VydmVyTGl2ZVJlc3BvbnNlIgASTgoLU2VydmVyUmVhZHkSHS5pbmZlcmVuY2UuU2VydmVyUmVhZHlSZXF1ZXN0Gh4u"
    "aW5mZXJlbmNlLlNlcnZlclJlYWR5UmVzcG9uc2UiABJLCgpNb2RlbFJlYWR5EhwuaW5mZXJlbmNlLk1vZGVsUmVhZHlS"
    "ZXF1ZXN0Gh0uaW5mZXJlbmNlLk1vZGVsUmVhZHlSZXNwb25zZSIAElcKDlNlcnZlck1ldGFkYXRhEiAuaW5mZXJlbmNl"
    "LlNlcnZlck1ldGFkYXRhUmVxdWVzdBohLmluZmVyZW5jZS5TZXJ2ZXJNZXRhZGF0YVJlc3BvbnNlIgASVAoNTW9kZWxN"
    "ZXRhZGF0YRIfLmluZmVyZW5jZS5Nb2RlbE1ldGFkYXRhUmVxdWVzdBogLmluZmVyZW5jZS5Nb2RlbE1ldGFkYXRhUmVz"
    "cG9uc2UiABJLCgpNb2RlbEluZmVyEhwuaW5mZXJlbmNlLk1vZGVsSW5mZXJSZXF1ZXN0Gh0uaW5mZXJlbmNlLk1vZGVs"
    "SW5mZXJSZXNwb25zZSIAYgZwcm90bzM="
)
# rpc name -> (request message, response message)
METHODS = {name: (f"{name}Request", f"{name}Response") for name in (
    "ServerLive", "ServerReady", "ModelReady", "ServerMetadata", "ModelMetadata",
    "ModelInfer")}


@functools.lru_cache(maxsize=1)
def messages() -> dict[str, Any]:
    """{message name: class} for every message of the schema (needs protobuf)."""
    from google.protobuf import descriptor_pool, message_factory

    pool = descriptor_pool.DescriptorPool()
    file = pool.AddSerializedFile(SCHEMA)  # a FileDescriptor (protobuf 4.21 and later)
    return {name: message_factory.GetMessageClass(desc)
            for name, desc in file.message_types_by_name.items()}

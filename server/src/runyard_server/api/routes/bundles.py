"""Git bundles of commits no remote has: the SDK uploads one, agents fetch the code from it.

A bundle is addressed by its sha256, so a clone of a task shares its parent's bundle
and an upload of the same commits twice stores one file.
"""

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, Response

from runyard.models import BundleRef, is_valid_sha256
from runyard.models.limits import MAX_ARTIFACT_BYTES
from runyard_server.api.deps import ArtifactFilesDep, PrincipalDep
from runyard_server.api.json_body import FiniteJSONRoute
from runyard_server.errors import NotFound

router = APIRouter(prefix="/bundles", tags=["bundles"], route_class=FiniteJSONRoute)


@router.post("", status_code=201)
async def upload_bundle(request: Request, who: PrincipalDep, files: ArtifactFilesDep) -> BundleRef:
    """The request body is the output of ``git bundle create``."""
    who.require("user")
    size, sha256 = await files.save_bundle(request.stream(), MAX_ARTIFACT_BYTES)
    return BundleRef(sha256=sha256, size=size)


@router.get("/{sha256}", response_class=FileResponse)
async def download_bundle(sha256: str, who: PrincipalDep, files: ArtifactFilesDep) -> Response:
    who.require("user", "agent")
    found = await files.open_bundle(sha256) if is_valid_sha256(sha256) else None
    if found is None:
        raise NotFound(f"code bundle {sha256} does not exist")
    return found.response(f"{sha256}.bundle", {"x-sha256": sha256})

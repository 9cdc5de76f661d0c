"""Returned outcomes: a township office uploads its visits' outcomes for the next run to read."""

from __future__ import annotations

import hashlib
from typing import Annotated

from fastapi import APIRouter, Depends, File, Request, UploadFile
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool

from portal import uploads
from portal.pages import log, names, page
from portal.session import CSRF, SignedIn, uploader
from safetynet.rules import load_case_rules

router = APIRouter()
Uploader = Annotated[str, Depends(uploader)]
NO_LANDING = "门户未配置回传目录（--landing），暂不能上传，请联系数据组。"


def context(request: Request, township: str) -> dict:
    state = request.app.state
    target = uploads.target_month(state.library.home(), state.landing)
    return {
        "township": township,
        "target": target,
        # the conclusions a correction reopens a case with (rules/outcomes/cases.yaml)
        "reopen_outcomes": load_case_rules(month=target).reopen_outcomes,
        "landing": state.landing,
        "name": names(request).get(township, township),
    }


@router.get("/upload/{township}", response_class=HTMLResponse)
async def upload_form(request: Request, account: SignedIn, township: Uploader) -> Response:
    return page(request, "upload.html", account, result=None, error=None, **context(request, township))


@router.post("/upload/{township}", response_class=HTMLResponse, dependencies=[CSRF])
async def upload(
    request: Request,
    account: SignedIn,
    township: Uploader,
    file: Annotated[UploadFile | None, File()] = None,
) -> Response:
    state, shown = request.app.state, context(request, township)
    if state.landing is None:
        return page(request, "upload.html", account, status=503, result=None, error=NO_LANDING, **shown)
    filename = (file.filename if file else "") or ""
    data = await file.read(state.settings.upload_max_bytes + 1) if file else b""
    sha = hashlib.sha256(data).hexdigest()

    def logged(result: str, detail: str) -> None:
        fields = {
            "file": filename[:200],
            "sha256": sha,
            "bytes": len(data),
            "result": result,
            "detail": detail,
        }
        log(request, "upload", account, township_code=township, **fields)

    try:  # read, checked and merged off the event loop: every other request goes on meanwhile
        rows = await uploads.read_in_worker(filename, data, state.settings)
        result = await run_in_threadpool(
            uploads.receive,
            state.home,
            state.landing,
            township,
            filename,
            data,
            state.settings,
            state.today(),
            rows,
        )
    except uploads.UploadRefused as exc:
        logged("refused", str(exc))
        return page(request, "upload.html", account, status=400, result=None, error=str(exc), **shown)
    logged(
        "ok" if result.count("接受") else "nothing accepted",
        f"接受 {result.count('接受')}（更正 {result.corrections}），拒绝 {result.count('拒绝')}，"
        f"跳过 {result.count('跳过')}，无变化 {result.count('无变化')}；"
        + "，".join(f"{m} 月 {n} 条" for m, n in sorted(result.written.items())),
    )
    return page(request, "upload.html", account, result=result, error=None, **shown)

"""Headless Chromium for the report: print the HTML to PDF, or take a screenshot of it.

Debian's `chromium` package (`apt-get install chromium fonts-noto-cjk`); CREDITWH_CHROMIUM names another
binary. Each run gets a throw-away profile, so runs never share state or lock each other out.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from etl import config
from etl.errors import UserError

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
TIMEOUT_SECONDS = 120


def find_chromium() -> str | None:
    """The Chromium binary to use, or None when none is installed."""
    configured = config.settings().chromium
    if configured:
        return shutil.which(configured) or (configured if Path(configured).is_file() else None)
    return next((path for name in CANDIDATES if (path := shutil.which(name))), None)


def _run(arguments: list[str], target: Path) -> None:
    binary = find_chromium()
    if binary is None:
        raise UserError("未安装 Chromium，无法生成 PDF；请用 `apt-get install -y chromium fonts-noto-cjk` 安装"
                        "（或设置 CREDITWH_CHROMIUM），或在浏览器中打开 HTML 报告后打印 / "
                        "Chromium is not installed, so no PDF can be printed; install it with "
                        "`apt-get install -y chromium fonts-noto-cjk` (or set CREDITWH_CHROMIUM), "
                        "or open the HTML report in a browser and print it.")
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="creditwh-chromium-") as profile:
        command = [binary, "--headless", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                   "--no-default-browser-check", "--disable-extensions", "--hide-scrollbars",
                   "--font-render-hinting=none", f"--user-data-dir={profile}"]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            command.append("--no-sandbox")  # Chromium refuses to run as root inside its sandbox
        try:
            done = subprocess.run([*command, *arguments], capture_output=True, text=True, timeout=TIMEOUT_SECONDS,
                                  check=False)
        except subprocess.TimeoutExpired:
            raise UserError(f"Chromium 在 {TIMEOUT_SECONDS} 秒内未能写完 {target.name} / "
                            f"Chromium did not finish within {TIMEOUT_SECONDS} s writing {target.name}.") from None
    if done.returncode != 0 or not target.is_file() or target.stat().st_size == 0:
        last = (done.stderr or done.stdout or "").strip().splitlines()[-1:] or ["no output"]
        raise UserError(f"Chromium 无法写入 {target.name}（退出码 {done.returncode}：{last[0]}）/ "
                        f"Chromium could not write {target.name} (exit {done.returncode}: {last[0]}).")


def print_pdf(html_path: Path, pdf_path: Path) -> Path:
    """Print the HTML file to an A4 PDF (the page size and margins come from the report's @page rule)."""
    pdf_path = Path(pdf_path).resolve()
    pdf_path.unlink(missing_ok=True)
    _run(["--no-pdf-header-footer", f"--print-to-pdf={pdf_path}", Path(html_path).resolve().as_uri()], pdf_path)
    return pdf_path


def screenshot(html_path: Path, png_path: Path, width: int = 1240, height: int = 1754) -> Path:
    """A PNG of the page as a browser shows it (the first `height` pixels)."""
    png_path = Path(png_path).resolve()
    png_path.unlink(missing_ok=True)
    _run([f"--screenshot={png_path}", f"--window-size={width},{height}", Path(html_path).resolve().as_uri()],
         png_path)
    return png_path

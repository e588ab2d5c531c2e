"""What the procedures' Playwright walks share: one demo user at a time logs in, opens a task of
the case being walked from 我的待办, submits it, and each step leaves a numbered screenshot."""

from __future__ import annotations

from pathlib import Path
from typing import Any

PASSWORD = "govflow-demo"


class Walk:
    def __init__(self, page: Any, base: str, shots: Path, prefix: str, business_key: str = "") -> None:
        self.page, self.base, self.shots, self.prefix, self.n = page, base, shots, prefix, 0
        self.business_key = business_key  # the case whose tasks open_task looks for

    def shot(self, name: str, page: Any = None) -> None:
        self.n += 1
        (page or self.page).screenshot(path=str(self.shots / f"{self.prefix}_{self.n:02d}_{name}.png"),
                                       full_page=True)

    def login(self, username: str) -> None:
        from playwright.sync_api import expect

        self.page.context.clear_cookies()
        self.page.goto(f"{self.base}/login")
        self.page.fill("#username", username)
        self.page.fill("#password", PASSWORD)
        self.page.click("button[type=submit]")
        expect(self.page.locator("h1")).to_have_text("我的待办")

    def open_task(self, task_name: str) -> None:
        from playwright.sync_api import expect

        self.page.goto(f"{self.base}/tasks")
        row = self.page.locator(f"tr[data-business-key='{self.business_key}']").filter(has_text=task_name)
        expect(row).to_have_count(1)
        row.get_by_role("link", name="办理").click()
        expect(self.page.locator(".page-head h1")).to_have_text(task_name)

    def submit(self) -> None:
        from playwright.sync_api import expect

        self.page.click("button:has-text('提交办理')")
        expect(self.page.locator(".flash-success")).to_contain_text("已办理")

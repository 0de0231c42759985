"""`make run` names each county's workbench and a demo clerk, who can sign in with the password it prints."""

from __future__ import annotations

import re

import httpx

from tests.newcomer.conftest import LocalFederation


def test_make_run_prints_each_workbench_and_a_clerk_who_can_sign_in(local_federation: LocalFederation):
    for county in ("621227", "542526", "330203"):
        found = [m for line in local_federation.banner if (m := re.search(
            rf"工作台 workbench: (http://\S+)/ui/ +办事员 clerk: (demo-{county}) 密码 password: (\S+)", line))]
        assert found, (county, local_federation.banner)
        url, account, password = found[0].groups()
        with httpx.Client(base_url=url, timeout=30, follow_redirects=True) as browser:
            form = browser.get("/ui/sign-in")
            token = re.search(r'name="csrf_token" value="([^"]+)"', form.text).group(1)
            signed_in = browser.post("/ui/sign-in", data={"account": account, "password": password,
                                                          "csrf_token": token})
            assert signed_in.status_code == 200 and f"data-account=\"{account}\"" in signed_in.text, signed_in.text
            assert signed_in.url.path == "/ui/worklist"

"""`make run` names each county's workbench and a demo clerk, who can sign in with the password it prints."""

from __future__ import annotations

import re

from tests.newcomer.conftest import LocalFederation, sign_in_over_http


def test_make_run_prints_each_workbench_and_a_clerk_who_can_sign_in(local_federation: LocalFederation):
    for county in ("621227", "542526", "330203"):
        found = [m for line in local_federation.banner if (m := re.search(
            rf"工作台 workbench: (http://\S+)/ui/ +办事员 clerk: (demo-{county}) 密码 password: (\S+)", line))]
        assert found, (county, local_federation.banner)
        url, account, password = found[0].groups()
        assert sign_in_over_http(url, account, password).url.path == "/ui/worklist"

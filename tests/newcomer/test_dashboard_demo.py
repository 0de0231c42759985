"""`make run` names the monitor's dashboard and a demo provincial monitor per province of its counties, who signs in
with the password it prints and sees its own province."""

from __future__ import annotations

import re

from tests.newcomer.conftest import LocalFederation, sign_in_over_http


def test_make_run_prints_the_dashboard_and_a_provincial_monitor_who_can_sign_in(local_federation: LocalFederation):
    for province, name in (("33", "浙江省"), ("62", "甘肃省"), ("54", "西藏自治区")):
        found = [m for line in local_federation.banner if (m := re.search(
            rf"监测看板 dashboard: (http://\S+)/ui/dashboard +{name} 省级监测 provincial monitor: "
            rf"(demo-monitor-{province}) 密码 password: (\S+)", line))]
        assert found, (province, local_federation.banner)
        url, account, password = found[0].groups()
        signed_in = sign_in_over_http(url, account, password)
        assert signed_in.url.path == "/ui/dashboard" and f"{name} 反馈及时情况" in signed_in.text

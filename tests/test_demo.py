"""`make demo` reads well: the logins and addresses come last, emails are readable files."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

from tests.stack import BASE_DIR, app_env, free_port, wait_for


def test_the_demo_ends_with_logins_and_addresses_and_writes_readable_emails(tmp_path):
    port = free_port()
    mail = tmp_path / "demo-mail"
    env = app_env(
        f"sqlite:///{tmp_path / 'demo.sqlite3'}",
        DEBUG="1",
        SITE_URL=f"http://127.0.0.1:{port}",
        DEMO_MAIL_DIR=str(mail),
    )
    for command in (["migrate", "--noinput", "-v", "0"], ["seed_demo", "-v", "0"]):
        done = subprocess.run(  # noqa: S603 - our interpreter and manage.py
            [sys.executable, "manage.py", *command],
            cwd=BASE_DIR,
            env=env,
            check=True,
            timeout=300,
            capture_output=True,
            text=True,
        )
        assert "パスワード" not in done.stdout  # quiet: the logins come at the end
    log = tmp_path / "demo.log"
    demo = subprocess.Popen(  # noqa: S603 - our interpreter and manage.py
        [sys.executable, "manage.py", "run_demo", "--port", str(port)],
        cwd=BASE_DIR,
        env=env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for(lambda: "Ctrl+C で終了します。" in log.read_text(), 60, "the demo's banner")
        wait_for(lambda: len(list(mail.glob("*.txt"))) >= 10, 60, "the demo's emails")
    finally:
        demo.send_signal(signal.SIGINT)
        try:
            demo.wait(30)
        except subprocess.TimeoutExpired:
            demo.kill()
            demo.wait()
    output = log.read_text()

    # The banner comes after the server's own start-up lines, and ends with the addresses.
    banner = output[output.index("=" * 72) :]
    assert output.index("Quit the server") < output.index("=" * 72)
    for expected in (
        "ユーザー名: counselor  パスワード: demo-",
        "ユーザー名: supervisor  パスワード: demo-",
        "/r/",
        f"メールは {mail}/ に1通ずつテキストファイルで保存されます。",
        f"求職者のページ: http://127.0.0.1:{port}/",
        f"職員の管理画面: http://127.0.0.1:{port}/admin/",
    ):
        assert expected in banner, expected
    last_lines = banner.split("Ctrl+C で終了します。")[0].strip().splitlines()[-2:]
    assert last_lines[0].startswith("求職者のページ")
    assert last_lines[1].startswith("職員の管理画面")

    # No MIME on the terminal, and each task is logged once.
    assert "Content-Transfer-Encoding" not in output
    assert "state=RUNNING" not in output
    assert output.count("task send_email (email_id=1): SUCCESSFUL") == 1

    # Each email is a readable UTF-8 text file carrying the private link.
    texts = [path.read_bytes().decode("utf-8") for path in sorted(mail.glob("*.txt"))]
    received = [t for t in texts if "お申込みを受け付けました" in t.split("\n", 1)[0]]
    assert received, texts[0][:500]
    assert f"http://127.0.0.1:{port}/r/" in received[0]
    assert "base64" not in received[0]
    assert Path(mail).is_dir()

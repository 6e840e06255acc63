def test_admin_login_page_renders(page):
    page.goto("/admin/login/")
    assert page.locator("input[name=username]").is_visible()

def test_a_posted_idea_is_listed_and_shown(client, make_idea, login_as):
    idea = make_idea("Dark mode for the dashboard")
    home = client.get("/")
    assert home.status_code == 200
    assert "Dark mode for the dashboard" in home.text
    page = client.get(f"/ideas/{idea.id}")
    assert page.status_code == 200
    assert "Supported by 1 person" in page.text
    login_as("customer")
    assert client.get("/").status_code == 200
    assert client.get(f"/ideas/{idea.id}").status_code == 200
    assert client.get("/my-ideas").status_code == 200
    assert client.get("/notifications").status_code == 200

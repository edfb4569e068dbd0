"""Accounts and deletes from Python, through the same use cases as HTTP and the CLI: the
reserved ``session`` token name and weak passwords refused, passwords needing the old one,
EXACT's DELETE into a trash and back, and a bulk delete with mixed rights refused whole."""

import pytest

import exact_wsi
from exact_wsi import Store


def world(store, collaboration_type=0):
    team = store.create_team("pathology")
    iset = store.create_image_set("mitoses", team, collaboration_type=collaboration_type)
    product = store.create_product("cells", team=team, imagesets=[iset])
    box = store.create_annotation_type("mitosis", product, vector_type="bbox")
    image = store.add_image(iset, "case1.svs", 10_000, 8_000)
    return team, image, box


def test_session_token_name_and_weak_passwords_are_refused():
    store = Store.memory()
    with pytest.raises(exact_wsi.InvalidInputError, match="reserved"):
        store.create_token("session")
    assert store.create_token("notebook").startswith("exact_")
    with pytest.raises(exact_wsi.InvalidInputError, match="password"):
        store.add_user("bob", password="short")
    assert [u["username"] for u in store.users()] == ["exact"], "a refused user was half-made"
    store.add_user("bob", password="bob-password")
    with pytest.raises(exact_wsi.InvalidInputError, match="username"):
        store.add_user("bob", password="bob-password")
    bob = store.as_user("bob")
    # Bob changes his own password only with the old one; he cannot set another's.
    with pytest.raises(exact_wsi.InvalidInputError, match="old_password"):
        bob.set_password("bob", "bob-second-pw")
    with pytest.raises(exact_wsi.InvalidInputError, match="old_password"):
        bob.set_password("bob", "bob-second-pw", old_password="wrong-password")
    bob.set_password("bob", "bob-second-pw", old_password="bob-password")
    with pytest.raises((exact_wsi.PermissionDeniedError, exact_wsi.NotFoundError)):
        bob.set_password("exact", "taken-over-pw", old_password="x")
    # A superuser resets anyone's, and their own in a store they opened.
    store.set_password("bob", "reset-by-admin")
    store.set_password("exact", "admin-password")


def test_trash_and_restore():
    store = Store.memory()
    _, image, box = world(store)
    ids = store.add_boxes(image, box, [[0, 0, 10, 10], [20, 20, 30, 30], [40, 40, 50, 50]])
    a, b, c = (int(i) for i in ids)
    store.update_annotations([{"id": a, "description": "edited"}])
    store.trash_annotations([a, b])
    # Gone as after EXACT's DELETE: not retrievable, in no list, deleted or not.
    for gone in (a, b):
        with pytest.raises(exact_wsi.NotFoundError):
            store.annotation(gone)
    assert [r["id"] for r in store.annotations(image, deleted=None)] == [c]
    # Restored, with its history kept and the restore appended.
    back = store.restore_annotations([a])
    assert [r["id"] for r in back] == [a] and not back[0]["deleted"]
    assert store.annotation(a)["description"] == "edited"
    assert [h["action"] for h in store.history(a)] == [1, 2, 3, 4]
    assert sorted(r["id"] for r in store.annotations(image)) == [a, c]
    # Restoring what is not in the trash restores nothing.
    with pytest.raises(exact_wsi.NotFoundError):
        store.restore_annotations([b, c])
    assert sorted(r["id"] for r in store.annotations(image)) == [a, c]


def test_bulk_delete_with_mixed_rights_is_refused_whole():
    store = Store.memory()
    team, image, box = world(store, collaboration_type=2)  # second opinion
    store.add_user("bob", password="bob-password")
    store.add_member(team, "bob")
    bob = store.as_user("bob")
    theirs = int(store.add_boxes(image, box, [[0, 0, 10, 10]])[0])
    mine = [int(i) for i in bob.add_boxes(image, box, [[20, 20, 30, 30], [40, 40, 50, 50]])]
    for delete in (bob.trash_annotations, bob.delete_annotations):
        with pytest.raises(exact_wsi.PermissionDeniedError):
            delete([mine[0], theirs])
        assert len(store.annotations(image)) == 3, "part of a refused bulk delete happened"
    with pytest.raises(exact_wsi.PermissionDeniedError):
        bob.update_annotations([{"id": mine[0], "description": "x"},
                                {"id": theirs, "description": "x"}])
    assert all(r["description"] == "" for r in store.annotations(image))
    bob.trash_annotations(mine)
    assert [r["id"] for r in store.annotations(image)] == [theirs]
    # Bob may not restore what the owner trashed.
    store.trash_annotations([theirs])
    with pytest.raises((exact_wsi.NotFoundError, exact_wsi.PermissionDeniedError)):
        bob.restore_annotations([theirs])
    bob.restore_annotations(mine)
    assert len(bob.annotations(image)) == 2

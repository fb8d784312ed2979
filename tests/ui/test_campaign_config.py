"""Campaign Configuration driven like a user: New Campaign → Email → Next → the Edit
Email Campaign dialog, the group tree, Campaign Details and its Email Templates list."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QItemSelectionModel, QPoint, Qt
from PySide6.QtWidgets import QCheckBox

from app.ui.campaign_config import CampaignConfigurationScreen, TemplatePickerDialog
from app.ui.campaign_dialog import EditEmailCampaignDialog, NewCampaignDialog
from app.ui.models import ROW_ROLE
from tests.conftest import settle_operations
from tests.ui.keyboard import type_text

# Nothing of these screens may wait for the database on the GUI thread.


@pytest.fixture
def screen(qtbot, demo_db, supervisor, make_ctx):  # type: ignore[no-untyped-def]
    widget = CampaignConfigurationScreen(make_ctx(demo_db, supervisor))
    qtbot.addWidget(widget)
    widget.resize(1200, 800)
    widget.show()
    qtbot.waitExposed(widget)  # and its lists read
    return widget


def click(qtbot, button) -> None:  # type: ignore[no-untyped-def]
    """Click where a user would: a check box on its box, a button in its middle."""
    assert button.isEnabled(), button.text()
    if isinstance(button, QCheckBox):
        qtbot.mouseClick(button, Qt.MouseButton.LeftButton, pos=QPoint(8, button.height() // 2))
    else:
        qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


def choose_group(qtbot, screen, name: str) -> None:  # type: ignore[no-untyped-def]
    model = screen.group_model
    matches = model.match(
        model.index(0, 0),
        Qt.ItemDataRole.DisplayRole,
        f"{name} (",
        1,
        Qt.MatchFlag.MatchStartsWith | Qt.MatchFlag.MatchRecursive,
    )
    assert matches, f"group {name} not in the tree"
    screen.group_tree.selectionModel().setCurrentIndex(
        matches[0], QItemSelectionModel.SelectionFlag.ClearAndSelect
    )
    click(qtbot, screen.show_button)


def campaign_titles(screen) -> list[str]:  # type: ignore[no-untyped-def]
    proxy = screen.campaign_proxy
    return [proxy.index(r, 0).data() for r in range(proxy.rowCount())]


def open_new_campaign_dialog(qtbot, screen) -> EditEmailCampaignDialog:  # type: ignore[no-untyped-def]
    click(qtbot, screen.new_campaign_button)
    chooser = screen.findChild(NewCampaignDialog)
    assert chooser is not None and chooser.isVisible()
    assert chooser.type_combo.currentText() == "Email"
    click(qtbot, chooser.next_button)
    dialog = screen.findChild(EditEmailCampaignDialog)
    assert dialog is not None and dialog.isVisible()
    assert dialog.windowTitle() == "Edit Email Campaign"
    return dialog


def select_rows(view, rows: list[int]) -> None:  # type: ignore[no-untyped-def]
    selection = view.selectionModel()
    selection.clearSelection()
    for row in rows:
        selection.select(
            view.model().index(row, 1),
            QItemSelectionModel.SelectionFlag.Select | QItemSelectionModel.SelectionFlag.Rows,
        )


def test_create_a_campaign_with_every_field_and_two_teams(qtbot, screen, demo_db):  # type: ignore[no-untyped-def]
    choose_group(qtbot, screen, "Orders & Returns")
    assert campaign_titles(screen) == ["Orders", "Returns"]
    dialog = open_new_campaign_dialog(qtbot, screen)

    # Every field on the first tab, typed and clicked like a user.
    assert dialog.group_combo.currentText() == "Customer Service › Orders & Returns"
    type_text(qtbot, dialog.title_edit, "Größe – 5 € 日本語")
    type_text(qtbot, dialog.description_edit, "Sizes and special offers")
    dialog.group_combo.setCurrentIndex(dialog.group_combo.findText("Sales"))
    for check in (dialog.free_format_check, dialog.move_check):
        assert not check.isChecked()
        click(qtbot, check)
    for check in (dialog.confirmation_check, dialog.put_back_check, dialog.draft_check):
        assert check.isChecked()
    click(qtbot, dialog.draft_check)
    assert dialog.channel_combo.itemText(0) == (
        "Organisation Default Email Channel (Support mailbox)"
    )
    dialog.channel_combo.setCurrentIndex(dialog.channel_combo.findText("Sales mailbox"))
    dialog.service_level_edit.clear()
    type_text(qtbot, dialog.service_level_edit, "240")

    # Assigned Teams: Is Assigned = All, select two teams, Add.
    dialog.tabs.setCurrentIndex(1)
    dialog.assigned_filter.setCurrentText("All")
    names = [dialog.team_proxy.index(r, 1).data() for r in range(dialog.team_proxy.rowCount())]
    assert names == ["Escalations", "Front Line", "Sales Desk"]
    select_rows(dialog.team_view, [names.index("Front Line"), names.index("Sales Desk")])
    click(qtbot, dialog.add_team_button)
    dialog.assigned_filter.setCurrentText("Assigned")
    assigned = [dialog.team_proxy.index(r, 1).data() for r in range(dialog.team_proxy.rowCount())]
    assert assigned == ["Front Line", "Sales Desk"]
    assert dialog.team_proxy.index(0, 0).data(Qt.ItemDataRole.CheckStateRole) == (
        Qt.CheckState.Checked
    )
    dialog.assigned_filter.setCurrentText("Unassigned")
    assert dialog.team_proxy.rowCount() == 1

    with qtbot.waitSignal(dialog.finished, timeout=2000):
        click(qtbot, dialog.buttons.button(dialog.buttons.StandardButton.Save))

    # It is in the tree under Sales, listed, and shown in Campaign Details.
    assert screen.group_model.node(screen.group_tree.currentIndex()).name == "Sales"
    assert "Größe – 5 € 日本語" in campaign_titles(screen)
    values = {k: v.text() for k, v in screen.details.values.items()}
    assert values["Campaign Title"] == "Größe – 5 € 日本語"
    assert values["Campaign Description"] == "Sizes and special offers"
    assert values["Campaign Group"] == "Sales"
    assert values["Allow free-format emails"] == "Yes"
    assert values["Require email address confirmation"] == "Yes"
    assert values["Allow put back to queue"] == "Yes"
    assert values["Allow move to another campaign"] == "Yes"
    assert values["Allow save as a draft"] == "No"
    assert values["Email Channel"] == "Sales mailbox"
    assert values["Service Level"] == "240 seconds"
    assert values["Assigned Teams"] == "Front Line, Sales Desk"
    tree_text = screen.group_model.data(
        screen.group_model.index_of(screen.group_model.node(screen.group_tree.currentIndex()).id)
    )
    assert tree_text == "Sales (3)"


def test_quotation_mark_error_is_shown_next_to_the_title_and_typing_is_kept(qtbot, screen, answers):  # type: ignore[no-untyped-def]
    choose_group(qtbot, screen, "Sales")
    dialog = open_new_campaign_dialog(qtbot, screen)
    type_text(qtbot, dialog.title_edit, "The “best” offers")
    type_text(qtbot, dialog.description_edit, "Größe – 5 €")
    dialog.tabs.setCurrentIndex(1)
    click(qtbot, dialog.buttons.button(dialog.buttons.StandardButton.Save))
    assert dialog.isVisible()
    _widget, error = dialog._fields["Campaign Title"]
    assert error.isVisible()
    assert "must not contain quotation marks" in error.text()
    assert dialog.tabs.currentIndex() == 0  # switched back to show the field
    assert dialog.title_edit.text() == "The “best” offers"
    assert dialog.description_edit.toPlainText() == "Größe – 5 €"
    assert dialog.focusWidget() is dialog.title_edit
    assert dialog.title_edit.selectedText() == "The “best” offers"  # typing replaces it

    # Fixing it clears the error and saves.
    dialog.title_edit.selectAll()
    type_text(qtbot, dialog.title_edit, "The best offers")
    dialog.service_level_edit.clear()
    type_text(qtbot, dialog.service_level_edit, "1.5")
    click(qtbot, dialog.buttons.button(dialog.buttons.StandardButton.Save))
    _widget, period_error = dialog._fields["Service Level Period"]
    assert "'1.5' is not a whole number" in period_error.text()
    assert dialog.focusWidget() is dialog.service_level_edit
    assert dialog.service_level_edit.selectedText() == "1.5"
    assert not error.isVisible()
    dialog.service_level_edit.clear()
    type_text(qtbot, dialog.service_level_edit, "60")
    with qtbot.waitSignal(dialog.finished, timeout=2000):
        click(qtbot, dialog.buttons.button(dialog.buttons.StandardButton.Save))
    assert "The best offers" in campaign_titles(screen)


def test_escape_with_unsaved_changes_asks_and_keeps_the_text(qtbot, screen, answers):  # type: ignore[no-untyped-def]
    shown, replies = answers
    choose_group(qtbot, screen, "Sales")
    dialog = open_new_campaign_dialog(qtbot, screen)
    type_text(qtbot, dialog.title_edit, "Half typed")
    replies.append(False)  # Keep editing
    qtbot.keyClick(dialog, Qt.Key.Key_Escape)
    assert shown and "unsaved changes" in shown[-1][1]
    assert dialog.isVisible() and dialog.title_edit.text() == "Half typed"
    replies.append(True)  # Discard
    with qtbot.waitSignal(dialog.finished, timeout=2000):
        qtbot.keyClick(dialog, Qt.Key.Key_Escape)
    assert "Half typed" not in campaign_titles(screen)


def test_escape_without_changes_closes_without_asking(qtbot, screen, answers):  # type: ignore[no-untyped-def]
    shown, _ = answers
    choose_group(qtbot, screen, "Sales")
    dialog = open_new_campaign_dialog(qtbot, screen)
    with qtbot.waitSignal(dialog.finished, timeout=2000):
        qtbot.keyClick(dialog, Qt.Key.Key_Escape)
    assert shown == []


def test_edit_a_campaign_and_a_conflict_with_another_supervisor(qtbot, screen, demo_db, admin):  # type: ignore[no-untyped-def]
    from app.services.campaigns import CampaignService

    choose_group(qtbot, screen, "Sales")
    screen.select_campaign(
        next(c.id for c in screen.campaign_model.rows() if c.title == "Sales Leads")
    )
    settle_operations()
    click(qtbot, screen.edit_campaign_button)
    dialog = screen.findChild(EditEmailCampaignDialog)
    assert dialog.title_edit.text() == "Sales Leads"
    assert dialog.service_level_edit.text() == "600"

    # Meanwhile another supervisor saves the same campaign.
    other = CampaignService(demo_db, admin)
    current = other.get_campaign(dialog.campaign.id)
    from app.services.campaigns import CampaignData

    other.update_campaign(
        current.id,
        CampaignData(
            title="Sales Leads",
            group_id=current.group_id,
            service_level_period=30,
            team_ids=[t.id for t in current.teams],
        ),
        current.version,
    )

    qtbot.keyClick(dialog.description_edit, Qt.Key.Key_End, Qt.KeyboardModifier.ControlModifier)
    type_text(qtbot, dialog.description_edit, " (edited)")
    click(qtbot, dialog.buttons.button(dialog.buttons.StandardButton.Save))
    assert dialog.isVisible()
    assert "changed by someone else" in dialog.banner.text()
    assert dialog.description_edit.toPlainText().endswith(" (edited)")
    assert other.get_campaign(current.id).service_level_period == 30


def test_add_and_delete_a_template_in_campaign_details(qtbot, screen, answers):  # type: ignore[no-untyped-def]
    shown, _ = answers
    choose_group(qtbot, screen, "Sales")
    screen.select_campaign(
        next(c.id for c in screen.campaign_model.rows() if c.title == "Sales Leads")
    )
    settle_operations()  # its details are read
    details = screen.details

    def listed() -> list[str]:
        proxy = details.template_proxy
        return [proxy.index(r, 0).data() for r in range(proxy.rowCount())]

    assert listed() == ["Sales follow-up"]
    assert details.template_model.headerData(2, Qt.Orientation.Horizontal) == "Added On"

    click(qtbot, details.add_button)
    picker = details.findChild(TemplatePickerDialog)
    texts = [picker.list.item(i).text() for i in range(picker.list.count())]
    assert not any(t.startswith("Sales follow-up") for t in texts)
    target = next(i for i, t in enumerate(texts) if t.startswith("Rückfrage (Deutsch)"))
    picker.list.item(target).setSelected(True)
    with qtbot.waitSignal(picker.finished, timeout=2000):
        click(qtbot, picker.add_button)
    assert listed() == ["Sales follow-up", "Rückfrage (Deutsch)"]
    added_on = details.template_proxy.index(1, 2).data()
    assert added_on and added_on[:2] == "20"

    details.template_view.selectRow(1)
    click(qtbot, details.delete_button)
    assert shown[-1][0] == "confirm" and "Rückfrage (Deutsch)" in shown[-1][1]
    assert listed() == ["Sales follow-up"]


def test_deleting_a_group_with_campaigns_shows_which(qtbot, screen, answers):  # type: ignore[no-untyped-def]
    shown, _ = answers
    choose_group(qtbot, screen, "Sales")
    click(qtbot, screen.delete_group_button)
    assert shown[-1][0] == "error"
    assert "Sales Leads" in shown[-1][1]


def test_models_pass_the_model_tester(qtbot, screen, qtmodeltester):  # type: ignore[no-untyped-def]
    choose_group(qtbot, screen, "Sales")
    screen.select_campaign(screen.campaign_model.rows()[0].id)
    settle_operations()
    qtmodeltester.check(screen.group_model)
    qtmodeltester.check(screen.campaign_model)
    qtmodeltester.check(screen.details.template_model)
    dialog = open_new_campaign_dialog(qtbot, screen)
    qtmodeltester.check(dialog.team_model)
    qtmodeltester.check(dialog.team_proxy)


def test_every_dialog_field_has_a_unique_mnemonic_and_is_reachable_by_tab(qtbot, screen):  # type: ignore[no-untyped-def]
    from PySide6.QtWidgets import QAbstractButton, QLabel, QTabBar

    choose_group(qtbot, screen, "Sales")
    dialog = open_new_campaign_dialog(qtbot, screen)
    page = dialog.tabs.widget(0)
    keys: list[str] = []
    for label in page.findChildren(QLabel):
        if label.buddy() is not None:
            assert "&" in label.text(), label.text()
            keys.append(label.text().split("&")[1][0].lower())
    for button in page.findChildren(QAbstractButton):
        if "&" in button.text():
            keys.append(button.text().split("&")[1][0].lower())
    bar = dialog.tabs.findChild(QTabBar)
    keys += [bar.tabText(i).split("&")[1][0].lower() for i in range(bar.count())]
    keys.append("s")  # Save
    assert len(keys) == len(set(keys)), keys

    # Tab walks through every input of the first page.
    inputs = [
        dialog.title_edit,
        dialog.description_edit,
        dialog.group_combo,
        dialog.free_format_check,
        dialog.confirmation_check,
        dialog.put_back_check,
        dialog.move_check,
        dialog.draft_check,
        dialog.channel_combo,
        dialog.service_level_edit,
    ]
    dialog.activateWindow()
    dialog.title_edit.setFocus()
    reached = []
    for _ in range(40):
        reached.append(dialog.focusWidget())
        qtbot.keyClick(dialog.focusWidget(), Qt.Key.Key_Tab)
    missing = [w.objectName() or type(w).__name__ for w in inputs if w not in reached]
    assert not missing


def test_selected_team_row_data(qtbot, screen):  # type: ignore[no-untyped-def]
    choose_group(qtbot, screen, "Sales")
    dialog = open_new_campaign_dialog(qtbot, screen)
    team = dialog.team_proxy.index(0, 1).data(ROW_ROLE)
    assert team.name == "Escalations"


def open_edit_dialog(qtbot, screen, title: str) -> EditEmailCampaignDialog:  # type: ignore[no-untyped-def]
    screen.select_campaign(next(c.id for c in screen.campaign_model.rows() if c.title == title))
    settle_operations()
    click(qtbot, screen.edit_campaign_button)
    dialog = screen.findChild(EditEmailCampaignDialog)
    assert dialog is not None and dialog.isVisible()
    assert dialog.title_edit.text() == title
    return dialog


def test_saving_runs_off_the_gui_thread_with_the_buttons_off_until_it_is_done(  # type: ignore[no-untyped-def]
    qtbot, screen, monkeypatch
):
    import threading

    from PySide6.QtTest import QTest

    from app.services.campaigns import CampaignService

    choose_group(qtbot, screen, "Sales")
    dialog = open_edit_dialog(qtbot, screen, "Sales Leads")
    gate, started = threading.Event(), threading.Event()
    update = CampaignService.update_campaign

    def slow_update(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        assert threading.current_thread() is not threading.main_thread()
        started.set()
        assert gate.wait(10)
        return update(self, *args, **kwargs)

    monkeypatch.setattr(CampaignService, "update_campaign", slow_update)
    dialog.description_edit.selectAll()
    type_text(qtbot, dialog.description_edit, "Leads from the web form")
    save = dialog.buttons.button(dialog.buttons.StandardButton.Save)
    cancel = dialog.buttons.button(dialog.buttons.StandardButton.Cancel)
    save.click()  # not through qtbot, which would wait for the save to end
    assert started.wait(10)
    qtbot.wait(50)  # the GUI thread goes on meanwhile
    assert dialog.saving and dialog.isVisible()
    assert not save.isEnabled() and not cancel.isEnabled()
    QTest.keyClick(dialog, Qt.Key.Key_Escape)  # no closing under a save
    save.click()  # nor saving twice
    assert dialog.isVisible()
    assert dialog.description_edit.toPlainText() == "Leads from the web form"

    with qtbot.waitSignal(dialog.finished, timeout=5000):
        gate.set()
    settle_operations()
    assert screen.details.values["Campaign Description"].text() == "Leads from the web form"
    assert screen.selected_campaign().description == "Leads from the web form"


def test_an_outage_while_saving_is_shown_in_the_banner_and_keeps_what_was_typed(  # type: ignore[no-untyped-def]
    qtbot, screen, monkeypatch
):
    from app.services.campaigns import CampaignService
    from app.services.errors import DatabaseUnavailable

    choose_group(qtbot, screen, "Sales")
    dialog = open_edit_dialog(qtbot, screen, "Sales Leads")

    def away(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        raise DatabaseUnavailable("connection refused")

    with monkeypatch.context() as patch:
        patch.setattr(CampaignService, "update_campaign", away)
        dialog.title_edit.selectAll()
        type_text(qtbot, dialog.title_edit, "Sales Leads (web)")
        save = dialog.buttons.button(dialog.buttons.StandardButton.Save)
        click(qtbot, save)
        assert dialog.isVisible()
        assert dialog.banner.isVisible()
        assert "cannot be reached (connection refused)" in dialog.banner.text()
        assert "nothing you typed is lost" in dialog.banner.text()
        assert dialog.title_edit.text() == "Sales Leads (web)"
        assert save.isEnabled() and not dialog.saving

    # The database is back: Save again saves what was typed.
    with qtbot.waitSignal(dialog.finished, timeout=2000):
        click(qtbot, save)
    assert "Sales Leads (web)" in campaign_titles(screen)


def test_create_rename_and_delete_a_group(qtbot, screen, answers):  # type: ignore[no-untyped-def]
    from app.ui.campaign_config import GroupDialog

    shown, _ = answers

    def tree_texts() -> list[str]:
        model = screen.group_model
        found = model.match(
            model.index(0, 0),
            Qt.ItemDataRole.DisplayRole,
            "",
            -1,
            Qt.MatchFlag.MatchContains | Qt.MatchFlag.MatchRecursive,
        )
        return [index.data() for index in found]

    choose_group(qtbot, screen, "Sales")
    click(qtbot, screen.new_group_button)
    dialog = screen.findChild(GroupDialog)
    assert dialog is not None and dialog.isVisible()
    assert dialog.parent_combo.currentText() == "Sales"  # under the selected group
    type_text(qtbot, dialog.name_edit, "Wholesale")
    with qtbot.waitSignal(dialog.finished, timeout=2000):
        click(qtbot, dialog.buttons.button(dialog.buttons.StandardButton.Save))
    assert "Wholesale (0)" in tree_texts()
    selected = screen.selected_group()
    assert selected is not None and selected.name == "Wholesale"
    assert screen.group_model.node(screen.group_model.parent(screen.group_tree.currentIndex()))
    qtbot.waitUntil(lambda: screen.findChild(GroupDialog) is None, timeout=2000)  # deleted

    # A name taken already is refused at its field; another one is saved, at the top level.
    click(qtbot, screen.edit_group_button)
    dialog = screen.findChild(GroupDialog)
    assert dialog.name_edit.text() == "Wholesale"
    dialog.name_edit.selectAll()
    type_text(qtbot, dialog.name_edit, "Sales")
    click(qtbot, dialog.buttons.button(dialog.buttons.StandardButton.Save))
    assert dialog.isVisible()
    _widget, error = dialog._fields["Group Name"]
    assert error.isVisible() and "Sales" in error.text()
    dialog.name_edit.selectAll()
    type_text(qtbot, dialog.name_edit, "Trade")
    dialog.parent_combo.setCurrentIndex(dialog.parent_combo.findData(None))
    with qtbot.waitSignal(dialog.finished, timeout=2000):
        click(qtbot, dialog.buttons.button(dialog.buttons.StandardButton.Save))
    assert "Trade (0)" in tree_texts() and "Wholesale (0)" not in tree_texts()
    assert screen.selected_group().name == "Trade"
    assert not screen.group_tree.currentIndex().parent().isValid()  # at the top level

    click(qtbot, screen.delete_group_button)
    assert shown[-1] == ("confirm", "Delete the campaign group 'Trade'?")
    assert not any(text.startswith("Trade (") for text in tree_texts())
    assert "Sales (2)" in tree_texts()


def test_a_change_made_elsewhere_is_shown_when_the_change_hub_hears_one(  # type: ignore[no-untyped-def]
    qtbot, screen, demo_db, admin
):
    from app.services.campaigns import CampaignData, CampaignService
    from app.ui.changes import hub_of
    from tests.work_data import add_email

    choose_group(qtbot, screen, "Sales")
    screen.select_campaign(
        next(c.id for c in screen.campaign_model.rows() if c.title == "Sales Leads")
    )
    settle_operations()
    hub = hub_of(screen.ctx)
    qtbot.waitUntil(lambda: hub._token is not None, timeout=3000)  # its first reading

    other = CampaignService(demo_db, admin)
    current = other.get_campaign(screen.selected_campaign().id)
    other.update_campaign(
        current.id,
        CampaignData(
            title="Sales Leads",
            description="Changed by the administrator",
            group_id=current.group_id,
            service_level_period=current.service_level_period,
            team_ids=[t.id for t in current.teams],
        ),
        current.version,
    )
    add_email(demo_db, "Orders", subject="Heard by the change hub")
    qtbot.waitUntil(
        lambda: (
            screen.details.values["Campaign Description"].text() == "Changed by the administrator"
        ),
        timeout=5000,
    )
    settle_operations()
    assert screen.selected_campaign().description == "Changed by the administrator"
    assert screen.selected_group().name == "Sales"  # the selection survives


def test_editing_a_campaign_deleted_meanwhile_says_so_and_reads_the_list_again(  # type: ignore[no-untyped-def]
    qtbot, screen, demo_db, admin, answers
):
    from app.services.campaigns import CampaignData, CampaignService

    shown, _ = answers
    other = CampaignService(demo_db, admin)
    sales = next(g for g in other.list_groups() if g.name == "Sales")
    doomed = other.create_campaign(CampaignData(title="Short-lived", group_id=sales.id))
    choose_group(qtbot, screen, "Sales")
    assert "Short-lived" in campaign_titles(screen)
    screen.select_campaign(doomed.id)
    settle_operations()
    other.delete_campaign(doomed.id)

    click(qtbot, screen.edit_campaign_button)
    assert shown == [("error", "The email campaign no longer exists.")]
    assert screen.findChild(EditEmailCampaignDialog) is None
    assert "Short-lived" not in campaign_titles(screen)
    assert screen.details.values["Campaign Title"].text() == (
        "Select a campaign to see its details."
    )

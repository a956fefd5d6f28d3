import QtQuick
import QtQuick.Controls
import QtQuick.Dialogs
import QtQuick.Layouts

// Conversations, most recent first: new, import, search, rename, export, delete with undo.
Rectangle {
    id: sidebar
    objectName: "sidebar"
    color: Theme.sidebar

    function focusSearch() { search.forceActiveFocus(); search.selectAll() }

    ColumnLayout {
        anchors.fill: parent
        anchors.margins: 8
        spacing: 8

        RowLayout {
            Layout.fillWidth: true
            spacing: 4
            Button {
                objectName: "newConversationButton"
                Layout.fillWidth: true
                text: qsTr("New conversation")
                icon.name: "document-new"
                Accessible.name: qsTr("Start a new conversation (Ctrl+N)")
                ToolTip.visible: hovered
                ToolTip.text: qsTr("Start a new conversation (Ctrl+N)")
                onClicked: Chat.newConversation()
            }
            Button {
                objectName: "importButton"
                text: qsTr("Import…")
                icon.name: "document-import"
                enabled: Chat.storageReady
                Accessible.name: qsTr("Import a conversation from a JSON or Markdown file")
                ToolTip.visible: hovered
                ToolTip.text: qsTr("Import a conversation (JSON or Markdown)")
                onClicked: importDialog.open()
            }
        }

        TextField {
            id: search
            objectName: "searchField"
            Layout.fillWidth: true
            placeholderText: qsTr("Search titles and messages (Ctrl+F)")
            Accessible.name: qsTr("Search conversations")
            onTextChanged: Chat.conversations.filter = text
            Keys.onEscapePressed: text = ""
        }

        ListView {
            id: list
            objectName: "conversationList"
            Layout.fillWidth: true
            Layout.fillHeight: true
            clip: true
            model: Chat.conversations
            currentIndex: Chat.conversations.rowOf(Chat.currentConversationId)
            ScrollBar.vertical: ScrollBar {}
            Accessible.name: qsTr("Conversations")

            delegate: ItemDelegate {
                id: item
                objectName: "conversation_" + index
                width: ListView.view.width
                highlighted: conversationId === Chat.currentConversationId
                property bool renaming: false
                Accessible.name: title
                onClicked: Chat.selectConversation(conversationId)

                contentItem: RowLayout {
                    spacing: 4
                    ColumnLayout {
                        Layout.fillWidth: true
                        spacing: 0
                        visible: !item.renaming
                        Label {
                            objectName: "conversationTitle"
                            Layout.fillWidth: true
                            text: title
                            elide: Text.ElideRight
                            color: item.highlighted ? Theme.accentText : Theme.text
                            font.bold: item.highlighted
                        }
                        Label {
                            objectName: "conversationDate"
                            Layout.fillWidth: true
                            text: updatedText
                            elide: Text.ElideRight
                            // Muted grey is unreadable on the accent colour of the selected row.
                            color: item.highlighted ? Theme.accentText : Theme.mutedText
                            opacity: item.highlighted ? 0.85 : 1.0
                            font.pointSize: 8
                        }
                    }
                    TextField {
                        id: renameField
                        objectName: "renameField"
                        Layout.fillWidth: true
                        visible: item.renaming
                        text: title
                        Accessible.name: qsTr("New title")
                        onAccepted: { Chat.renameConversation(conversationId, text); item.renaming = false }
                        Keys.onEscapePressed: item.renaming = false
                        onActiveFocusChanged: if (!activeFocus && item.renaming) item.renaming = false
                    }
                    ToolButton {
                        objectName: "renameButton"
                        palette.buttonText: item.highlighted ? Theme.accentText : Theme.text
                        text: "✎"
                        visible: item.hovered || item.highlighted
                        Accessible.name: qsTr("Rename conversation")
                        ToolTip.visible: hovered
                        ToolTip.text: qsTr("Rename")
                        onClicked: { item.renaming = true; renameField.forceActiveFocus(); renameField.selectAll() }
                    }
                    ToolButton {
                        objectName: "exportButton"
                        palette.buttonText: item.highlighted ? Theme.accentText : Theme.text
                        text: "⤓"
                        visible: item.hovered || item.highlighted
                        Accessible.name: qsTr("Export conversation")
                        ToolTip.visible: hovered
                        ToolTip.text: qsTr("Export to a file")
                        onClicked: {
                            exportDialog.conversationId = conversationId
                            exportDialog.open()
                        }
                    }
                    ToolButton {
                        objectName: "deleteButton"
                        palette.buttonText: item.highlighted ? Theme.accentText : Theme.text
                        text: "×"
                        font.pointSize: 13
                        visible: item.hovered || item.highlighted
                        Accessible.name: qsTr("Delete conversation")
                        ToolTip.visible: hovered
                        ToolTip.text: qsTr("Delete (you can undo)")
                        onClicked: Chat.deleteConversation(conversationId)
                    }
                }
            }

            Label {
                anchors.centerIn: parent
                width: parent.width - 16
                horizontalAlignment: Text.AlignHCenter
                wrapMode: Text.Wrap
                visible: list.count === 0
                color: Theme.mutedText
                text: search.text.length > 0 ? qsTr("No conversation matches “%1”.").arg(search.text)
                                             : qsTr("No conversations yet. Type a message to start one.")
            }
        }

        Rectangle {
            objectName: "noticeBar"
            Layout.fillWidth: true
            visible: Chat.notice.length > 0
            implicitHeight: noticeRow.implicitHeight + 12
            radius: 6
            color: Theme.surface
            border.color: Theme.border
            RowLayout {
                id: noticeRow
                anchors.fill: parent
                anchors.margins: 6
                Label {
                    objectName: "noticeText"
                    Layout.fillWidth: true
                    text: Chat.notice
                    wrapMode: Text.Wrap
                    color: Theme.text
                }
                ToolButton {
                    text: "×"
                    Accessible.name: qsTr("Dismiss")
                    onClicked: Chat.clearNotice()
                }
            }
        }

        Rectangle {
            objectName: "undoBar"
            Layout.fillWidth: true
            visible: Chat.undoAvailable
            implicitHeight: undoRow.implicitHeight + 12
            radius: 6
            color: Theme.surface
            border.color: Theme.border
            RowLayout {
                id: undoRow
                anchors.fill: parent
                anchors.margins: 6
                Label {
                    Layout.fillWidth: true
                    text: qsTr("Deleted “%1”").arg(Chat.undoTitle)
                    elide: Text.ElideRight
                    color: Theme.text
                }
                Button {
                    objectName: "undoButton"
                    text: qsTr("Undo")
                    Accessible.name: qsTr("Undo delete")
                    onClicked: Chat.undoDelete()
                }
            }
        }
    }

    FileDialog {
        id: exportDialog
        objectName: "exportDialog"
        property var conversationId: 0
        title: qsTr("Export conversation")
        fileMode: FileDialog.SaveFile
        // The third filter adds the state snapshots: larger, and an import resumes without
        // reprocessing the transcript (with the same model).
        nameFilters: [qsTr("Conversation with every branch (*.json)"),
                      qsTr("Markdown, the branch shown (*.md)"),
                      qsTr("Conversation with its state snapshots (*.json)")]
        defaultSuffix: selectedNameFilter.index === 1 ? "md" : "json"
        onAccepted: Chat.exportConversation(conversationId, selectedFile,
                                            selectedNameFilter.index === 2)
    }

    FileDialog {
        id: importDialog
        objectName: "importDialog"
        title: qsTr("Import a conversation")
        fileMode: FileDialog.OpenFile
        nameFilters: [qsTr("Conversations (*.json *.md *.markdown)"), qsTr("All files (*)")]
        onAccepted: Chat.importConversation(selectedFile)
    }
}

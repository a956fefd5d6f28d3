import QtQuick
import QtQuick.Controls
import QtQuick.Layouts

ApplicationWindow {
    id: window
    objectName: "mainWindow"
    width: 1280
    height: 800
    minimumWidth: 760
    minimumHeight: 480
    visible: true
    title: Chat.currentTitle.length > 0 ? qsTr("%1 — Ravel").arg(Chat.currentTitle) : qsTr("Ravel")
    color: Theme.background

    // Which tab the right-hand panel shows: 0 model, 1 sampling.
    property alias panelIndex: sidePanel.currentIndex

    palette.window: Theme.background
    palette.windowText: Theme.text
    palette.base: Theme.background
    palette.alternateBase: Theme.surface
    palette.text: Theme.text
    palette.button: Theme.surface
    palette.buttonText: Theme.text
    palette.highlight: Theme.accent
    palette.highlightedText: Theme.accentText
    palette.placeholderText: Theme.mutedText
    palette.mid: Theme.border
    palette.dark: Theme.border
    palette.light: Theme.surface
    palette.toolTipBase: Theme.surface
    palette.toolTipText: Theme.text

    Shortcut {
        sequence: "Ctrl+N"
        onActivated: { Chat.newConversation(); chatView.focusComposer() }
    }
    Shortcut {
        sequence: "Ctrl+F"
        onActivated: sidebar.focusSearch()
    }
    Shortcut {
        sequence: "Esc"
        enabled: Chat.busy
        onActivated: Chat.stop()
    }

    SplitView {
        anchors.fill: parent
        orientation: Qt.Horizontal

        Sidebar {
            id: sidebar
            SplitView.preferredWidth: 260
            SplitView.minimumWidth: 180
        }

        ColumnLayout {
            SplitView.fillWidth: true
            SplitView.minimumWidth: 360
            spacing: 0

            ErrorBanner {
                Layout.fillWidth: true
            }
            DemoBanner {
                Layout.fillWidth: true
            }
            ChatView {
                id: chatView
                Layout.fillWidth: true
                Layout.fillHeight: true
            }
            StatusLine {
                Layout.fillWidth: true
            }
        }

        SidePanel {
            id: sidePanel
            SplitView.preferredWidth: 320
            SplitView.minimumWidth: 240
        }
    }
}

# Berth workspace: what every login shell (the IDE's terminals) gets.
# The image's tools are in /usr/local/bin and /usr/bin; what the user installs for themselves
# (`npm install -g`, `pip install --user`) goes to ~/.local, which is writable for any uid.
export NPM_CONFIG_PREFIX="$HOME/.local"
case ":$PATH:" in *":$HOME/.local/bin:"*) ;; *) PATH="$HOME/.local/bin:$PATH" ;; esac
export PATH
# Claude Code cannot update itself inside the image (it lives in /usr/local/bin, read-only
# for the user); a new image brings a new version.
export DISABLE_AUTOUPDATER=1

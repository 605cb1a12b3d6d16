#!/bin/sh
# Runs after the Berth package is removed: as the deb's postrm ("remove"; "purge" follows it)
# and as the rpm's %postun ("0" = erased; "1" = upgraded). Removing Berth never touches what it
# made for its users — their data dirs, and the Docker containers, volumes and images labelled
# dev.berth.managed — so say that, and where the data dirs are.
case "$1" in
    remove | 0) ;;
    *) exit 0 ;;
esac
echo "Berth is removed. Your Berth data is kept:"
found=0
for home in /root /home/*; do
    if [ -d "$home/.local/share/berth" ]; then
        echo "  $home/.local/share/berth"
        found=1
    fi
done
[ "$found" -eq 1 ] || echo "  (in each user's ~/.local/share/berth, or where BERTH_DATA_DIR pointed)"
echo "Berth's Docker containers, volumes and images (label dev.berth.managed=true) are kept too."
echo "Delete a data dir by hand when you no longer need it; a new install of Berth uses it again."
exit 0

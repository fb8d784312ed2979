"""Email Campaigns: email queues for contact centres."""

__version__ = "0.1.0"
APP_NAME = "Email Campaigns"
APP_ID = "com.emailcampaigns.EmailCampaigns"
